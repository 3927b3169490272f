//! Go's `path.Clean` / `path.Dir` for slash-separated paths, which the
//! upstream matcher applies to both patterns and paths.

/// Lexically normalises `path`: collapses `//`, drops `.`, resolves `..`,
/// removes a trailing `/`; the empty path becomes `.`.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_owned();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Everything before the last `/`, cleaned; `.` when there is no `/`.
pub(crate) fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => clean(&path[..=i]),
        None => ".".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("a//b/", "a/b"),
            ("./a/./b", "a/b"),
            ("a/../..", ".."),
            ("/../a", "/a"),
            ("/", "/"),
            ("!/", "!"),
            ("a/b/../../..", ".."),
        ] {
            assert_eq!(clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn dir_matches_go() {
        assert_eq!(dir("a"), ".");
        assert_eq!(dir("a/b/c"), "a/b");
        assert_eq!(dir("file/"), "file");
        assert_eq!(dir("/"), "/");
        assert_eq!(dir("/x"), "/");
    }
}

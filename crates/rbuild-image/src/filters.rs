//! Which images a listing shows: the filters `docker images -f` and the
//! Engine API's `GET /images/json` take, with docker's reference globs.

use rbuild_context::path_match;

use crate::images::{Image, created_secs, find};

/// The filters of `images -f` and of the Engine API's `GET /images/json`,
/// as docker reads them.
#[derive(Debug, Default)]
pub struct ImageFilters {
    /// `dangling=true|false`.
    pub dangling: Option<bool>,
    /// `reference=PATTERN`s: an image shows when one matches.
    pub references: Vec<String>,
    before: Option<i64>,
    since: Option<i64>,
    labels: Vec<(String, Option<String>)>,
}

impl ImageFilters {
    /// The filters of `(key, value)` pairs; `before` and `since` name
    /// images of `images`.
    pub fn parse(pairs: &[(&str, &str)], images: &[Image]) -> Result<ImageFilters, String> {
        let mut f = ImageFilters::default();
        let created = |what: &str| -> Result<i64, String> {
            let (image, _, _) = find(images, what).map_err(|e| e.to_string())?;
            Ok(created_secs(&image.record))
        };
        for &(key, value) in pairs {
            match key {
                "dangling" => {
                    f.dangling = Some(match value.to_ascii_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(format!(
                                "invalid filter 'dangling={value}': expected true or false"
                            ));
                        }
                    })
                }
                "reference" => f.references.push(value.to_owned()),
                "before" => f.before = Some(created(value)?),
                "since" => f.since = Some(created(value)?),
                "label" => f.labels.push(match value.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (value.to_owned(), None),
                }),
                _ => {
                    return Err(format!(
                        "invalid filter '{key}': expected dangling, reference, before, since or label"
                    ));
                }
            }
        }
        Ok(f)
    }

    /// Whether `image` passes the label, before and since filters.
    pub fn image(&self, image: &Image) -> bool {
        let created = created_secs(&image.record);
        self.before.is_none_or(|t| created < t)
            && self.since.is_none_or(|t| created > t)
            && self.labels.iter().all(|(k, v)| match (image.record.labels.get(k), v) {
                (Some(have), Some(want)) => have == want,
                (Some(_), None) => true,
                (None, _) => false,
            })
    }

    /// Whether a listing shows `image` at all: the label, before and since
    /// filters, then docker's rules for untagged images (hidden when an
    /// image is built on them unless `all`, never with `dangling=false` or a
    /// reference filter) and `dangling=true` (untagged only). Which of its
    /// tags show is [`reference`](Self::reference)'s.
    pub fn shows(&self, image: &Image, all: bool) -> bool {
        if !self.image(image) {
            return false;
        }
        if image.names.is_empty() && image.record.repo_digests.is_empty() {
            (all || !image.has_children)
                && self.dangling != Some(false)
                && self.references.is_empty()
        } else {
            self.dangling != Some(true) || image.names.is_empty()
        }
    }

    /// docker's FamiliarMatch: `repo:tag`, then `repo`, against each pattern.
    pub fn reference(&self, repository: &str, tag: &str) -> bool {
        self.references.is_empty()
            || self
                .references
                .iter()
                .any(|p| path_match(p, &format!("{repository}:{tag}")) || path_match(p, repository))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_match_as_docker_does() {
        let filter = |pattern: &str| ImageFilters::parse(&[("reference", pattern)], &[]).unwrap();
        // FamiliarMatch: `repo:tag`, else the bare repository.
        assert!(filter("busy*").reference("busybox", "local"));
        assert!(filter("*:1.0").reference("app", "1.0"));
        assert!(!filter("*").reference("team/app", "1"), "`*` stops at `/`");
        assert!(filter("*/*").reference("team/app", "1"));
        assert!(filter("app:?").reference("app", "1"));
        assert!(!filter("app:[^0-9]").reference("app", "7"));
        assert!(filter("app").reference("app", "1"));
        assert!(!filter("app:2").reference("app", "1"));
        assert!(!filter("[").reference("app", "1"), "a bad pattern matches nothing");
        assert!(ImageFilters::default().reference("app", "1"), "no pattern: everything");
    }
}

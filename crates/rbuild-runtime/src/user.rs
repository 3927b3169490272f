//! `USER` as Docker resolves it: a name or uid, optionally `:group` or
//! `:gid`, looked up in the rootfs's /etc/passwd and /etc/group, with the
//! user's supplementary groups.

/// The ids a step runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups (the primary group first).
    pub groups: Vec<u32>,
    /// Home directory, for `HOME` when the step's env has none.
    pub home: String,
}

/// Why a `USER` could not be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    /// A user name not in /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name not in /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 7 && !line.starts_with('#')).then_some(())?;
        Some(Passwd { name: f[0], uid: f[2].parse().ok()?, gid: f[3].parse().ok()?, home: f[5] })
    })
}

struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_entries(text: &str) -> impl Iterator<Item = Group<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 4 && !line.starts_with('#')).then_some(())?;
        let members = f[3].split(',').filter(|m| !m.is_empty()).collect();
        Some(Group { name: f[0], gid: f[2].parse().ok()?, members })
    })
}

/// The owner `COPY --chown`, `ADD --chown` and WORKDIR give what they make,
/// as BuildKit's file operation reads `user[:group]` (checked with docker
/// 26.1): a numeric user is itself, a name is looked up in `passwd` and an
/// unknown one is 0 (no error: only a RUN fails on an unknown user); a
/// group is a number, a name from `group`, or — unknown or absent — the
/// uid for a numeric user, the primary group for a known name, 0 otherwise.
pub fn file_owner(spec: &str, passwd: &str, group: &str) -> (u32, u32) {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let numeric = user.parse::<u32>().ok();
    let entry = passwd_entries(passwd).find(|p| p.name == user);
    let uid = numeric.or(entry.as_ref().map(|p| p.uid)).unwrap_or(0);
    let named_group = grp.filter(|g| !g.is_empty()).and_then(|g| {
        g.parse::<u32>().ok().or_else(|| group_entries(group).find(|e| e.name == g).map(|e| e.gid))
    });
    let gid = named_group.unwrap_or(match (numeric, &entry) {
        (Some(n), _) => n,
        (None, Some(p)) => p.gid,
        (None, None) => 0,
    });
    (uid, gid)
}

/// Resolves `user` (`""` is root) against the rootfs's passwd and group
/// files (empty strings when the image has none). A numeric uid needs no
/// entry; a name does.
pub fn resolve(user: &str, passwd: &str, group: &str) -> Result<Ids, UserError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let entry = passwd_entries(passwd).find(|p| {
        p.name == user_part || p.uid.to_string() == user_part && user_part.parse::<u32>().is_ok()
    });
    let (uid, mut gid, home, name) = match (entry, user_part.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.to_owned(), Some(p.name)),
        (None, Ok(uid)) => (uid, 0, "/".to_owned(), None),
        (None, Err(_)) => return Err(UserError::UnknownUser(user_part.to_owned())),
    };
    let mut explicit_group = false;
    if let Some(g) = group_part.filter(|g| !g.is_empty()) {
        explicit_group = true;
        gid = match group_entries(group).find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| UserError::UnknownGroup(g.to_owned()))?,
        };
    }
    let mut groups = vec![gid];
    // With an explicit group, Docker sets only that group.
    if !explicit_group && let Some(name) = name {
        for g in group_entries(group) {
            if g.members.contains(&name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
    }
    Ok(Ids { uid, gid, groups, home })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n\
        svc:x:999:998::/srv:/sbin/nologin\n";
    const GROUP: &str = "root:x:0:\napp:x:1000:\nwheel:x:10:app,other\ndocker:x:998:app\n";

    #[test]
    fn names_ids_and_groups() {
        let r = |u| resolve(u, PASSWD, GROUP);
        assert_eq!(r("").unwrap(), Ids { uid: 0, gid: 0, groups: vec![0], home: "/root".into() });
        let app = r("app").unwrap();
        assert_eq!(
            (app.uid, app.gid, app.groups, app.home.as_str()),
            (1000, 1000, vec![1000, 10, 998], "/home/app")
        );
        assert_eq!(r("1000").unwrap().groups, vec![1000, 10, 998]);
        assert_eq!(r("app:wheel").unwrap().groups, vec![10]);
        let numeric = r("4242:4343").unwrap();
        assert_eq!((numeric.uid, numeric.gid, numeric.groups), (4242, 4343, vec![4343]));
        assert_eq!(r("4242").unwrap().gid, 0);
        assert_eq!(r("svc:1").unwrap().gid, 1);
        assert_eq!(r("nobody"), Err(UserError::UnknownUser("nobody".into())));
        assert_eq!(r("app:nogroup"), Err(UserError::UnknownGroup("nogroup".into())));
        assert_eq!(resolve("0", "", "").unwrap().uid, 0);
    }
}

//! `import --change 'INSTRUCTION'` (and `commit --change`): Dockerfile
//! instructions that only set image config, applied to a config with the
//! same dispatch a build uses, so `ENV`, `EXPOSE`, `ONBUILD` … mean here
//! what they mean in a Dockerfile.

use rbuild_llb::ContainerConfig;
use rbuild_syntax::{Arguments, Keyword};

use crate::options::{BaseImages, BuildOptions};

/// The instructions docker accepts in a `--change`.
const ALLOWED: [Keyword; 10] = [
    Keyword::Cmd,
    Keyword::Entrypoint,
    Keyword::Env,
    Keyword::Expose,
    Keyword::Label,
    Keyword::Onbuild,
    Keyword::Stopsignal,
    Keyword::User,
    Keyword::Volume,
    Keyword::Workdir,
];

/// Why a `--change` was refused: which one (1-based, in the order given),
/// at which column of it, and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeError {
    /// Which `--change`, counting from 1.
    pub index: usize,
    /// Its text.
    pub change: String,
    /// 1-based column in it.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ChangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (index, change, column) = (self.index, &self.change, self.column);
        write!(f, "--change {index} ({change:?}), column {column}: {}", self.message)
    }
}

impl std::error::Error for ChangeError {}

struct Base<'a>(&'a ContainerConfig);

impl BaseImages for Base<'_> {
    fn config(&self, _reference: &str) -> Option<ContainerConfig> {
        Some(self.0.clone())
    }
}

/// `base` with `changes` applied in order. Unlike a build, no default
/// `PATH` is added (docker's import adds none).
pub fn apply_changes(
    base: &ContainerConfig,
    changes: &[String],
) -> Result<ContainerConfig, ChangeError> {
    const FROM: &str = "FROM base\n";
    let error = |index: usize, column: usize, message: String| ChangeError {
        index: index + 1,
        change: changes[index].clone(),
        column,
        message,
    };
    for (i, change) in changes.iter().enumerate() {
        if change.contains('\n') || change.trim().is_empty() {
            return Err(error(i, 1, "expected one instruction on one line".into()));
        }
    }
    let text = format!("{FROM}{}\n", changes.join("\n"));
    // Line 1 is the FROM; change i is line i + 2.
    let at = |line: usize, column: usize, message: String| {
        let index = line.saturating_sub(2).min(changes.len().saturating_sub(1));
        error(index, column, message)
    };
    let df = rbuild_syntax::parse(&text)
        .map_err(|e| at(e.span().line, e.span().column, e.message().to_owned()))?;
    let mut sets_path = false;
    for inst in &df.instructions[1..] {
        if !ALLOWED.contains(&inst.kind) {
            return Err(at(
                inst.span.line,
                inst.keyword_span.column,
                format!(
                    "{} is not a valid change command: expected one of CMD, ENTRYPOINT, ENV, \
                     EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR",
                    inst.keyword.to_ascii_uppercase()
                ),
            ));
        }
        if let (Keyword::Env, Arguments::Pairs(pairs)) = (inst.kind, &inst.args) {
            sets_path |= pairs.iter().any(|p| p.key.value == "PATH");
        }
    }
    let plan = crate::plan(&df, &text, &BuildOptions::default(), &Base(base))
        .map_err(|e| at(e.span().line, e.span().column, e.message().to_owned()))?;
    let mut config = plan.stages[plan.target].config.clone();
    if base.env_value("PATH").is_none() && !sets_path {
        config.env.retain(|e| !e.starts_with("PATH="));
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(list: &[&str]) -> Result<ContainerConfig, ChangeError> {
        let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        apply_changes(&ContainerConfig::default(), &list)
    }

    #[test]
    fn changes_set_config_as_a_dockerfile_would() {
        let config = changes(&[
            r#"CMD ["sh"]"#,
            "ENV A=1",
            // As in a Dockerfile, an ENV sees the values set before it.
            "ENV B=$A C=$B",
            "EXPOSE 80/tcp 53/udp",
            "LABEL k=v",
            "WORKDIR /srv",
            "USER 1000",
            "STOPSIGNAL SIGTERM",
            "VOLUME /data",
            "ONBUILD RUN echo hi",
            r#"ENTRYPOINT ["/bin/tini"]"#,
        ])
        .unwrap();
        assert_eq!(config.cmd, ["sh"]);
        assert_eq!(config.env, ["A=1", "B=1", "C="]);
        assert_eq!(config.entrypoint, ["/bin/tini"]);
        assert_eq!(config.working_dir, "/srv");
        assert_eq!(config.user, "1000");
        assert_eq!(config.stop_signal, "SIGTERM");
        assert_eq!(config.on_build, ["RUN echo hi"]);
        assert!(config.exposed_ports.contains_key("80/tcp"));
        assert!(config.exposed_ports.contains_key("53/udp"));
        assert!(config.volumes.contains_key("/data"));
        assert_eq!(config.labels.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn a_path_is_kept_only_when_set() {
        assert_eq!(changes(&["ENV PATH=/bin"]).unwrap().env, ["PATH=/bin"]);
        let base = ContainerConfig { env: vec!["PATH=/x".into()], ..ContainerConfig::default() };
        let config = apply_changes(&base, &["ENV A=1".to_owned()]).unwrap();
        assert_eq!(config.env, ["PATH=/x", "A=1"]);
    }

    #[test]
    fn bad_changes_name_the_change_and_what_was_expected() {
        let e = changes(&["ENV A=1", "RUN echo"]).unwrap_err();
        assert_eq!((e.index, e.column), (2, 1));
        assert!(e.message.contains("RUN is not a valid change command"), "{e}");
        let e = changes(&["CMD x", "EXPOSE 80/nope"]).unwrap_err();
        assert_eq!(e.index, 2, "{e}");
        let e = changes(&["ENV A=1\nRUN x"]).unwrap_err();
        assert_eq!(e.index, 1);
        assert!(e.to_string().starts_with("--change 1 (\"ENV A=1\\nRUN x\"), column 1:"), "{e}");
    }
}

//! The Dockerfile AST: BuildKit's node tree, typed, with a span on every part.

use serde::Serialize;

use crate::span::Span;

/// A parsed Dockerfile: what every later stage (lint, frontend, build) reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// Parser directives from the preamble (`# syntax=`, `# escape=`, `# check=`).
    pub directives: Vec<Directive>,
    /// The escape token in force: `\` unless `# escape=` chose a backtick.
    pub escape: char,
    /// The instructions in source order.
    pub instructions: Vec<Instruction>,
    /// Every comment line, also those inside continuations, for inline lint
    /// suppressions and for tools that keep comments.
    pub comments: Vec<Comment>,
    /// Things that parse but deserve a word, such as empty continuation lines.
    pub warnings: Vec<Warning>,
}

impl Dockerfile {
    /// The value of a directive by its lower-case name, for `syntax` and `check`.
    pub fn directive(&self, name: &str) -> Option<&str> {
        self.directives.iter().find(|d| d.name == name).map(|d| d.value.as_str())
    }
}

/// A parser directive such as `# escape=\``.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Directive {
    /// The name, lower-cased (`syntax`, `escape` or `check`).
    pub name: String,
    /// The value, trimmed.
    pub value: String,
    /// The whole directive line.
    pub span: Span,
    /// The value alone, for errors about it.
    pub value_span: Span,
}

/// A comment line; `text` is what follows `#`, trimmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Comment {
    /// The comment without its `#`, trimmed.
    pub text: String,
    /// The comment from its `#` to the end of the line.
    pub span: Span,
}

/// A non-fatal finding of the parser.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// What was found.
    pub message: String,
    /// Where it was found.
    pub span: Span,
}

/// The instruction keywords BuildKit knows; anything else is `Unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum Keyword {
    Add,
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stopsignal,
    User,
    Volume,
    Workdir,
    /// A word BuildKit does not know; its arguments are ignored.
    Unknown,
}

impl Keyword {
    /// The keyword for a word as written, in any case.
    pub fn from_word(word: &str) -> Self {
        match word.to_ascii_lowercase().as_str() {
            "add" => Self::Add,
            "arg" => Self::Arg,
            "cmd" => Self::Cmd,
            "copy" => Self::Copy,
            "entrypoint" => Self::Entrypoint,
            "env" => Self::Env,
            "expose" => Self::Expose,
            "from" => Self::From,
            "healthcheck" => Self::Healthcheck,
            "label" => Self::Label,
            "maintainer" => Self::Maintainer,
            "onbuild" => Self::Onbuild,
            "run" => Self::Run,
            "shell" => Self::Shell,
            "stopsignal" => Self::Stopsignal,
            "user" => Self::User,
            "volume" => Self::Volume,
            "workdir" => Self::Workdir,
            _ => Self::Unknown,
        }
    }

    /// The upper-case spelling, as documentation and messages write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "ADD",
            Self::Arg => "ARG",
            Self::Cmd => "CMD",
            Self::Copy => "COPY",
            Self::Entrypoint => "ENTRYPOINT",
            Self::Env => "ENV",
            Self::Expose => "EXPOSE",
            Self::From => "FROM",
            Self::Healthcheck => "HEALTHCHECK",
            Self::Label => "LABEL",
            Self::Maintainer => "MAINTAINER",
            Self::Onbuild => "ONBUILD",
            Self::Run => "RUN",
            Self::Shell => "SHELL",
            Self::Stopsignal => "STOPSIGNAL",
            Self::User => "USER",
            Self::Volume => "VOLUME",
            Self::Workdir => "WORKDIR",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Whether heredocs may follow this instruction (RUN, COPY, ADD).
    pub fn takes_heredocs(self) -> bool {
        matches!(self, Self::Run | Self::Copy | Self::Add)
    }
}

/// One instruction, possibly spread over continuation lines and heredocs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Instruction {
    /// The keyword exactly as written (`from`, `FROM`, `cOpY`).
    pub keyword: String,
    /// The keyword as a known instruction.
    pub kind: Keyword,
    /// Where the keyword is.
    pub keyword_span: Span,
    /// The `--name[=value]` flags before the arguments.
    pub flags: Vec<Flag>,
    /// The arguments, shaped as BuildKit's node list for this instruction.
    pub args: Arguments,
    /// Whether the arguments were a JSON array (exec form).
    pub json: bool,
    /// Heredocs opened on the instruction line, with their bodies.
    pub heredocs: Vec<Heredoc>,
    /// The logical line: continuations joined, comments dropped.
    pub original: String,
    /// From the keyword to the end of the instruction's last line.
    pub span: Span,
    /// First physical line, 1-based.
    pub start_line: usize,
    /// Last physical line, 1-based, counting continuation and heredoc lines.
    pub end_line: usize,
}

impl Instruction {
    /// The argument values in BuildKit's node order: for ENV and LABEL the
    /// key, value and separator of each pair; for ONBUILD nothing (see
    /// [`Arguments::Nested`]).
    pub fn values(&self) -> Vec<&str> {
        match &self.args {
            Arguments::Values(args) => args.iter().map(|a| a.value.as_str()).collect(),
            Arguments::Pairs(pairs) => pairs
                .iter()
                .flat_map(|p| [p.key.value.as_str(), p.value.value.as_str(), p.separator.as_str()])
                .collect(),
            Arguments::Nested(_) => Vec::new(),
        }
    }

    /// The value of a flag given by name without `--`; the last one wins.
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().rev().find(|f| f.name == name)
    }
}

/// A `--name[=value]` flag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flag {
    /// The flag as BuildKit keeps it: quotes and escapes removed, `--` kept.
    pub text: String,
    /// The name without `--`.
    pub name: String,
    /// What follows the first `=`, if there is one.
    pub value: Option<String>,
    /// The flag as written.
    pub span: Span,
}

/// The arguments of an instruction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "items", rename_all = "lowercase")]
pub enum Arguments {
    /// A list of values: words, JSON elements, or one whole-line value.
    Values(Vec<Arg>),
    /// ENV and LABEL: key/value pairs.
    Pairs(Vec<KeyValue>),
    /// ONBUILD: the instruction it wraps, if any.
    Nested(Option<Box<Instruction>>),
}

/// One argument value and where it was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Arg {
    /// The value: raw text for shell words, decoded for JSON strings.
    pub value: String,
    /// Where the value (for JSON, the quoted string) is in the source.
    pub span: Span,
}

/// An ENV or LABEL pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    /// The key.
    pub key: Arg,
    /// The value, still quoted and unexpanded.
    pub value: Arg,
    /// Which form the pair was written in.
    pub separator: Separator,
}

/// How an ENV or LABEL pair was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Separator {
    /// `key=value`.
    Equals,
    /// The legacy `key value` form.
    Space,
}

impl Separator {
    /// The separator node BuildKit puts after each pair: `=` or empty.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equals => "=",
            Self::Space => "",
        }
    }
}

/// A here-document opened by `<<NAME` on a RUN, COPY or ADD line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The terminator word, unquoted.
    pub name: String,
    /// The file descriptor before `<<`, 0 when none was written.
    pub fd: u64,
    /// False when any part of the word was quoted: the body is not expanded.
    pub expand: bool,
    /// True for `<<-`: leading tabs are removed from the body at build time.
    pub chomp: bool,
    /// The body as written, line endings included, terminator excluded.
    pub content: String,
    /// The `<<NAME` word on the instruction line.
    pub word_span: Span,
    /// The body lines and the terminator line.
    pub body_span: Span,
}

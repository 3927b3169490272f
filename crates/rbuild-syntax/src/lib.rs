/*!
Dockerfile syntax for rbuild: text to an AST with byte spans, at parity with
BuildKit's parser, and BuildKit's shell-word lexing and variable expansion.

The grammar lives in `grammar/dockerfile.pest`; [`parse`] is the entry point
and [`dump`] prints BuildKit's `Node.Dump()` form of the result.

# Example

```
let dockerfile = rbuild_syntax::parse("FROM alpine AS base\nRUN echo hi\n").unwrap();
assert_eq!(dockerfile.instructions.len(), 2);
assert_eq!(rbuild_syntax::dump(&dockerfile), "(from \"alpine\" \"AS\" \"base\")\n(run \"echo hi\")");
let run = &dockerfile.instructions[1];
assert_eq!((run.span.line, run.span.column), (2, 1));
```
*/
#![deny(missing_docs)]

mod ast;
mod dump;
mod error;
mod heredoc;
mod parser;
mod shell;
mod span;

pub use ast::{
    Arg, Arguments, Comment, Directive, Dockerfile, Flag, Heredoc, Instruction, KeyValue, Keyword,
    Separator, Warning,
};
pub use dump::{dump, go_quote};
pub use error::ParseError;
pub use parser::parse;
pub use shell::{Env, Expansion, ShellError, ShellLexer};
pub use span::Span;

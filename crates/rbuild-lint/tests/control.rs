//! Turning rules off: `--ignore`, inline comments, `# check=` and error
//! promotion, and reports on files that do not parse.

use rbuild_lint::{Linter, Severity};

fn codes(linter: &Linter, source: &str) -> Vec<(&'static str, usize)> {
    linter.lint(source).iter().map(|d| (d.code, d.location.line)).collect()
}

#[test]
fn rbuild_ignore_takes_codes_names_and_aliases_on_the_line_before() {
    let source = "FROM alpine:3.20\n\
                  # rbuild-ignore=run-cd\n\
                  RUN cd /a && make\n\
                  # rbuild-ignore=RB002,DL3003\n\
                  # (a second comment line keeps the first in force)\n\
                  RUN cd /b && sudo make\n\
                  RUN cd /c && make\n";
    assert_eq!(codes(&Linter::new().ignore("consecutive-run"), source), [("RB001", 7)]);
}

#[test]
fn hadolint_comments_are_honoured() {
    let source = "# hadolint global ignore=DL3006\n\
                  FROM alpine\n\
                  # hadolint ignore=DL3003,SC2086\n\
                  RUN cd /a && make\n\
                  RUN cd /b && make\n";
    assert_eq!(codes(&Linter::new().ignore("DL3059"), source), [("RB001", 5)]);
}

#[test]
fn the_check_directive_skips_docker_checks_and_makes_them_errors() {
    let source = "# check=skip=JSONArgsRecommended;error=true\n\
                  FROM alpine:3.20 as base\n\
                  RUN cd /x\n\
                  CMD echo hi\n";
    let found = Linter::new().lint(source);
    let summary: Vec<_> = found.iter().map(|d| (d.code, d.severity)).collect();
    // FromAsCasing is a Docker check, so it becomes an error; run-cd is not one.
    assert_eq!(summary, [("RB101", Severity::Error), ("RB001", Severity::Warning)]);

    let all = "# check=skip=all\nFROM alpine:3.20 as base\nCMD echo hi\n";
    assert!(Linter::new().lint(all).is_empty());
}

#[test]
fn ignore_and_select_take_any_identifier() {
    let source = "FROM alpine\nMAINTAINER me\nRUN cd /x\n";
    assert_eq!(
        codes(&Linter::new().ignore("MaintainerDeprecated").ignore("dl3006"), source),
        [("RB001", 3)]
    );
    assert_eq!(codes(&Linter::new().select(["untagged-image"]), source), [("RB030", 1)]);
}

#[test]
fn a_file_that_does_not_parse_is_one_error_with_its_place() {
    let found = Linter::new().lint("FROM alpine:3.20\nENV PATH\n");
    assert_eq!(found.len(), 1);
    let d = &found[0];
    assert_eq!((d.code, d.name, d.severity), ("RB000", "syntax-error", Severity::Error));
    assert_eq!((d.location.line, d.location.column), (2, 5));
    assert!(d.message.contains("ENV must have two arguments"), "{}", d.message);
}

#[test]
fn heredoc_scripts_are_linted_where_they_are_written() {
    let source = "FROM alpine:3.20\nRUN <<EOF\nset -e\ncd /src\nmake\nEOF\nRUN cat > /x <<EOF\ncd /not-a-command\nEOF\n";
    let found = Linter::new().select(["run-cd"]).lint(source);
    let places: Vec<_> =
        found.iter().map(|d| (d.location.line, d.location.column, d.location.end_column)).collect();
    assert_eq!(places, [(4, 1, 8)]);
}

#[test]
fn findings_point_into_continued_lines() {
    let source =
        "FROM debian:12\nRUN set -e \\\n  # install\n  && apt-get install -y \\\n       curl\n";
    let found = Linter::new().select(["DL3015"]).lint(source);
    let l = found[0].location;
    assert_eq!((l.line, l.column, l.end_line, l.end_column), (4, 6, 5, 12));
}

#[test]
fn sh_c_scripts_are_read_as_subshells() {
    let source = "FROM debian:12\nRUN sh -c 'cd /src && apt-get install -y curl'\n";
    let found = Linter::new().select(["run-cd", "apt-install-recommends"]).lint(source);
    let summary: Vec<_> = found.iter().map(|d| (d.code, d.location.column)).collect();
    // The cd ends with the `sh -c`; the install is seen, at its own column.
    assert_eq!(summary, [("RB012", 23)]);
}

//! Linter throughput over the real-world corpus in `../shared/conformance`:
//! every file parsed and checked by every rule, as `rbuild lint` does.

use std::path::Path;

use divan::counter::BytesCount;

fn main() {
    divan::main();
}

/// Every real-world Dockerfile of the conformance corpus; empty when the
/// corpus is absent.
fn corpus() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/real-world");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| std::fs::read(e.ok()?.path().join("Dockerfile")).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    files.sort();
    files
}

#[divan::bench]
fn real_world_corpus(bencher: divan::Bencher<'_, '_>) {
    let files = corpus();
    let bytes: usize = files.iter().map(String::len).sum();
    let linter = rbuild_lint::Linter::new();
    bencher.counter(BytesCount::new(bytes)).bench(|| {
        for file in &files {
            divan::black_box(linter.lint(divan::black_box(file)));
        }
    });
}

#[divan::bench]
fn real_world_corpus_rendered_human(bencher: divan::Bencher<'_, '_>) {
    let files = corpus();
    let linter = rbuild_lint::Linter::new();
    bencher.bench(|| {
        let reports: Vec<_> = files
            .iter()
            .map(|source| rbuild_lint::FileReport {
                path: "Dockerfile".to_owned(),
                source: source.clone(),
                diagnostics: linter.lint(source),
            })
            .collect();
        divan::black_box(rbuild_lint::render(&reports, rbuild_lint::Format::Human, false))
    });
}

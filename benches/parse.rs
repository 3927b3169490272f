//! Parser throughput over the real-world corpus in `../shared/conformance`.

use std::path::Path;

use divan::counter::BytesCount;

fn main() {
    divan::main();
}

/// Every real-world Dockerfile of the conformance corpus, concatenated per
/// file; empty when the corpus is absent.
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
    bencher.counter(BytesCount::new(bytes)).bench(|| {
        for file in &files {
            let _ = divan::black_box(rbuild_syntax::parse(divan::black_box(file)));
        }
    });
}

#[divan::bench]
fn real_world_corpus_dump(bencher: divan::Bencher<'_, '_>) {
    let files = corpus();
    let asts: Vec<_> = files.iter().filter_map(|f| rbuild_syntax::parse(f).ok()).collect();
    bencher.bench(|| {
        for ast in &asts {
            divan::black_box(rbuild_syntax::dump(ast));
        }
    });
}

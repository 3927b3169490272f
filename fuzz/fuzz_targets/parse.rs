//! Any bytes: the parser, the dump and the error renderer must not panic or hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    match rbuild_syntax::parse(&source) {
        Ok(ast) => {
            let _ = rbuild_syntax::dump(&ast);
        }
        Err(err) => {
            let _ = err.render("Dockerfile", &source, false);
        }
    }
});

//! Any instruction sequence the parser accepts plans or fails with an
//! error; it never panics.

use proptest::prelude::*;
use rbuild_frontend::BaseImages;
use rbuild_llb::ContainerConfig;

use crate::util::opts;

struct AnyImage;

impl BaseImages for AnyImage {
    fn config(&self, reference: &str) -> Option<ContainerConfig> {
        // Some images carry triggers, so ONBUILD paths run too.
        let on_build = if reference.contains("onbuild") {
            vec!["RUN x".to_owned(), "COPY --from=a / /".to_owned()]
        } else {
            Vec::new()
        };
        Some(ContainerConfig { on_build, ..ContainerConfig::default() })
    }
}

const LINES: &[&str] = &[
    "FROM busybox AS a",
    "FROM a AS b",
    "FROM onbuild",
    "FROM scratch",
    "FROM $IMG",
    "FROM --platform=$BUILDPLATFORM busybox",
    "ARG IMG=busybox",
    "ARG X",
    "ARG Y=${X:-d}",
    "ENV P=/p Q=$P",
    "WORKDIR rel/$P",
    "WORKDIR /",
    "USER $X",
    "RUN echo $X",
    "RUN [\"a\", \"b\"]",
    "RUN --mount=type=cache,target=c --mount=from=a,target=/m x",
    "RUN --network=none x",
    "COPY --from=a /x y",
    "COPY --from=0 /x /y/",
    "COPY --chmod=0755 --chown=$X a b",
    "ADD --checksum=sha256:00 http://x/y /z",
    "EXPOSE 80 90-91/udp",
    "VOLUME /v",
    "LABEL a=b",
    "CMD x",
    "ENTRYPOINT [\"e\"]",
    "SHELL [\"/bin/bash\", \"-c\"]",
    "HEALTHCHECK --interval=5s CMD true",
    "HEALTHCHECK NONE",
    "STOPSIGNAL 9",
    "ONBUILD RUN y",
    "MAINTAINER m",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn plans_or_errors(picks in proptest::collection::vec(0..LINES.len(), 1..12), target in 0..3usize) {
        let src: String = picks.iter().map(|&i| format!("{}\n", LINES[i])).collect();
        let Ok(df) = rbuild_syntax::parse(&src) else { return Ok(()) };
        let mut o = opts();
        o.target = [Some("a"), Some("b"), None][target].map(str::to_owned);
        if let Err(e) = rbuild_frontend::plan(&df, &src, &o, &AnyImage) {
            prop_assert!(e.span().line >= 1, "{e}");
        }
    }
}

//! `rbuild serve`: the Docker Engine API on rbuild's store.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;

use crate::args::ServeArgs;

pub(crate) fn run(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let listen = args
        .hosts
        .iter()
        .map(|h| h.parse::<rbuild_serve::Listen>().map_err(|e| anyhow::anyhow!("-H {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = rbuild_serve::Config::new(listen);
    if let Some(group) = &args.group {
        config.group = Some(group.clone());
    }
    config.max_context_bytes = rbuild_llb::parse_size(&args.max_context_size)
        .map_err(|e| anyhow::anyhow!("--max-context-size: {e}"))?;
    match (args.tlsverify, &args.tlscacert, &args.tlscert, &args.tlskey) {
        (true, Some(ca), Some(cert), Some(key)) => {
            config.tls = Some(rbuild_serve::TlsFiles {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        (true, ..) => anyhow::bail!("--tlsverify needs --tlscacert, --tlscert and --tlskey"),
        (false, None, None, None) => {}
        (false, ..) => anyhow::bail!(
            "--tlscacert, --tlscert and --tlskey take effect with --tlsverify (clients verified)"
        ),
    }
    let engine = super::build::open_engine()?;
    rbuild_serve::serve(engine, config, |listening| {
        let mut err = std::io::stderr().lock();
        for listen in listening {
            let _ = writeln!(err, "rbuild serve: listening on {listen}");
        }
        if let Some(first) = listening.first() {
            // The classic build API: the docker CLI must not switch to BuildKit.
            let _ = writeln!(err, "export DOCKER_HOST={first} DOCKER_BUILDKIT=0");
        }
    })
    .context("rbuild serve")?;
    Ok(ExitCode::SUCCESS)
}

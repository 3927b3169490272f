//! Configs and manifests: written canonically, read back equal, and the
//! same inputs give the same digest under SOURCE_DATE_EPOCH.

use std::fs;

use rbuild_image::oci_spec::image::MediaType;
use rbuild_image::{
    Error, History, ImageConfig, ImageSpec, canonical_json, parse_rfc3339, read_config,
    read_layers, read_manifest, rfc3339, write_image,
};
use rbuild_llb::Healthcheck;

use crate::{one_layer_image, sample_tree, store};

#[test]
fn an_image_reads_back_as_written() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (manifest, layer) = one_layer_image(&blobs, &tree, Some(1_700_000_000), &["/bin/tool"]);
    assert_eq!(*manifest.media_type(), MediaType::ImageManifest);
    let m = read_manifest(&blobs, manifest.digest()).unwrap();
    assert_eq!(m.schema_version(), 2);
    assert_eq!(*m.config().media_type(), MediaType::ImageConfig);
    assert_eq!(m.layers(), std::slice::from_ref(&layer.descriptor));
    let config = read_config(&blobs, manifest.digest()).unwrap();
    assert_eq!(config.rootfs.kind, "layers");
    assert_eq!(config.rootfs.diff_ids, std::slice::from_ref(&layer.diff_id));
    assert_eq!(config.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(config.os, "linux");
    assert!(config.history[1].empty_layer);
    assert_eq!(read_layers(&blobs, manifest.digest()).unwrap(), std::slice::from_ref(&layer));
    let spec = rbuild_image::ImageSpec::from_image(&blobs, manifest.digest()).unwrap();
    assert_eq!(spec.layers, [layer]);
    assert_eq!(spec.config, config);
    // Written again unchanged, it is the same image.
    assert_eq!(write_image(&blobs, &spec).unwrap(), manifest);
    // Canonical: sorted keys, no spaces, empty fields left out.
    let raw = String::from_utf8(blobs.read(m.config().digest()).unwrap()).unwrap();
    assert!(raw.starts_with(r#"{"architecture":""#), "{raw}");
    assert!(raw.contains(r#""history":[{"created":"2023-11-14T22:13:20Z","created_by":"COPY tree / # buildkit"},"#), "{raw}");
    assert!(raw.contains(r#""empty_layer":true"#), "{raw}");
}

#[test]
fn every_docker_config_field_round_trips() {
    let text = r#"{"architecture":"amd64","os":"linux","created":"2024-05-01T10:00:00.123456789Z",
      "config":{"User":"app:app","ExposedPorts":{"80/tcp":{},"53/udp":{}},"Env":["A=1","B=2"],
      "Entrypoint":["/init"],"Cmd":null,"Volumes":{"/data":{}},"WorkingDir":"/srv",
      "Labels":{"b":"2","a":"1"},"StopSignal":"SIGTERM","OnBuild":["RUN make"],
      "Shell":["/bin/bash","-c"],"ArgsEscaped":true,"Hostname":"builder",
      "Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000,"Retries":3}},
      "rootfs":{"type":"layers","diff_ids":[]},"history":null,"docker_version":"20.10"}"#;
    let config: ImageConfig = serde_json::from_str(text).unwrap();
    let c = config.config.as_ref().unwrap();
    assert_eq!(c.exposed_ports.keys().collect::<Vec<_>>(), ["53/udp", "80/tcp"]);
    assert_eq!(c.volumes.len(), 1);
    assert!(c.cmd.is_empty());
    assert_eq!(c.entrypoint, ["/init"]);
    assert_eq!(c.on_build, ["RUN make"]);
    assert_eq!(c.shell, ["/bin/bash", "-c"]);
    assert_eq!(
        c.healthcheck,
        Some(Healthcheck {
            test: vec!["CMD-SHELL".into(), "true".into()],
            interval: 30_000_000_000,
            retries: 3,
            ..Healthcheck::default()
        })
    );
    assert!(c.args_escaped);
    assert_eq!(c.extra["Hostname"], serde_json::json!("builder"), "unknown fields are kept");
    assert_eq!(config.extra["docker_version"], serde_json::json!("20.10"));
    let written = String::from_utf8(canonical_json(&config).unwrap()).unwrap();
    assert!(written.contains(r#""ExposedPorts":{"53/udp":{},"80/tcp":{}}"#), "{written}");
    assert!(written.contains(r#""Labels":{"a":"1","b":"2"}"#), "{written}");
    assert!(!written.contains("Cmd"), "{written}");
    let again: ImageConfig = serde_json::from_str(&written).unwrap();
    assert_eq!(again, config);
}

#[test]
fn same_inputs_and_epoch_give_the_same_digest() {
    let epoch = 1_600_000_000;
    let digests: Vec<_> = (0..2)
        .map(|round| {
            let (dir, blobs) = store();
            let tree = sample_tree(dir.path());
            // Different file times each round (now, and now + 1000 s): all
            // later than the epoch, so all clamped.
            let later = filetime::FileTime::from_unix_time(1_700_000_000 + round * 1000, 0);
            filetime::set_file_mtime(tree.join("etc/greeting"), later).unwrap();
            let (manifest, layer) = one_layer_image(&blobs, &tree, Some(epoch), &["/bin/tool"]);
            let config = read_config(&blobs, manifest.digest()).unwrap();
            assert_eq!(config.created.as_deref(), Some("2020-09-13T12:26:40Z"));
            (manifest.digest().clone(), layer.diff_id)
        })
        .collect();
    assert_eq!(digests[0], digests[1]);
    // Without the epoch the layer keeps the files' own times.
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (_, other) = one_layer_image(&blobs, &tree, None, &["/bin/tool"]);
    assert_ne!(other.diff_id, digests[0].1);
}

#[test]
fn created_times_later_than_the_epoch_are_clamped() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (base, layer) = one_layer_image(&blobs, &tree, None, &["x"]);
    let mut config = read_config(&blobs, base.digest()).unwrap();
    config.created = Some("2099-01-01T00:00:00Z".into());
    config.history[0].created = Some("1999-01-01T00:00:00+02:00".into());
    config.history[1].created = None;
    let spec = ImageSpec {
        config,
        layers: vec![layer],
        source_date_epoch: Some(1_000_000_000),
        ..ImageSpec::default()
    };
    let written = read_config(&blobs, write_image(&blobs, &spec).unwrap().digest()).unwrap();
    assert_eq!(written.created.as_deref(), Some("2001-09-09T01:46:40Z"));
    assert_eq!(written.history[0].created.as_deref(), Some("1999-01-01T00:00:00+02:00"));
    assert_eq!(written.history[1].created.as_deref(), Some("2001-09-09T01:46:40Z"));
}

#[test]
fn history_must_match_the_layers() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (base, layer) = one_layer_image(&blobs, &tree, Some(0), &["x"]);
    let mut config = read_config(&blobs, base.digest()).unwrap();
    config.history.push(History { created_by: Some("RUN true".into()), ..History::default() });
    let spec = ImageSpec { config, layers: vec![layer], ..ImageSpec::default() };
    let err = write_image(&blobs, &spec).unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("1 layers but 2 history entries"), "{err}");
}

#[test]
fn a_layer_missing_from_the_store_is_refused() {
    let (dir, blobs) = store();
    let tree = sample_tree(dir.path());
    let (_, layer) = one_layer_image(&blobs, &tree, Some(0), &["x"]);
    fs::remove_file(blobs.path(layer.descriptor.digest()).unwrap()).unwrap();
    let spec = ImageSpec { layers: vec![layer], ..ImageSpec::default() };
    assert!(matches!(write_image(&blobs, &spec), Err(Error::MissingBlob { .. })));
}

#[test]
fn rfc3339_times_convert_both_ways() {
    for (secs, text) in [
        (0, "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (1_700_000_000, "2023-11-14T22:13:20Z"),
        (4_102_444_799, "2099-12-31T23:59:59Z"),
    ] {
        assert_eq!(rfc3339(secs), text);
        assert_eq!(parse_rfc3339(text), Some(secs as i64));
    }
    assert_eq!(parse_rfc3339("2023-11-14T23:13:20.5+01:00"), Some(1_700_000_000));
    assert_eq!(parse_rfc3339("yesterday"), None);
}

//! Image names: what users type and what the store keeps agree.

use rbuild_image::{familiar_name, normalize_name};

#[test]
fn names_normalize_as_docker_reads_them() {
    let cases = [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:local", "docker.io/library/busybox:local"),
        ("alpine:3.20", "docker.io/library/alpine:3.20"),
        ("docker.io/library/alpine:3.20", "docker.io/library/alpine:3.20"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine:latest"),
        ("user/app", "docker.io/user/app:latest"),
        ("localhost/app:1", "localhost/app:1"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("ghcr.io/o/r:v1.2", "ghcr.io/o/r:v1.2"),
        (
            "busybox@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "docker.io/library/busybox@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ),
    ];
    for (input, want) in cases {
        assert_eq!(normalize_name(input).unwrap(), want, "{input}");
    }
    for bad in ["", "Busybox", "busy box", "x:", "x:-tag", "a//b", "x@sha256:zz", "-x"] {
        assert!(normalize_name(bad).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn familiar_names_drop_the_defaults() {
    assert_eq!(familiar_name("docker.io/library/busybox:local"), "busybox:local");
    assert_eq!(familiar_name("docker.io/user/app:latest"), "user/app:latest");
    assert_eq!(familiar_name("ghcr.io/o/r:v1"), "ghcr.io/o/r:v1");
    assert_eq!(familiar_name("docker.io/library/a/b:1"), "library/a/b:1");
    for typed in ["busybox", "busybox:local", "alpine:3.20", "user/app:1"] {
        let full = normalize_name(typed).unwrap();
        assert_eq!(normalize_name(familiar_name(&full)).unwrap(), full, "{typed}");
    }
}

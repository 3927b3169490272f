/*!
A client for the OCI distribution API, as the docker CLI uses it: names
normalized as docker does (`ubuntu` = `docker.io/library/ubuntu:latest`,
served by `registry-1.docker.io`), credentials found where docker finds them
([`Credentials`]), Basic and Bearer auth with tokens cached per scope,
mirrors for pulls ([`RegistryConfig`]), TLS with the system CAs plus docker's
`certs.d`, and plain HTTP only for loopback and registries configured
insecure.

[`Client::pull`] puts an image's manifest (byte-exact), config and layers in
a [`rbuild_image::Blobs`] store, each checked against its digest as it
streams; [`Client::push`] sends a stored image back, blobs first (HEAD,
mount, upload), the manifest last.
*/
#![deny(missing_docs)]

mod auth;
mod client;
mod config;
mod credentials;
mod error;
mod pull;
mod push;

pub use auth::Scopes;
pub use client::{Client, Retry};
pub use config::{Endpoint, RegistryConfig};
pub use credentials::{Credential, Credentials, DOCKER_HUB_KEY, RequestAuth, Source, config_key};
pub use error::{Error, Result};
pub use pull::{
    ACCEPT, DOCKER_LIST, DOCKER_MANIFEST, MAX_MANIFEST, OCI_INDEX, OCI_MANIFEST, Progress, Quiet,
    Resolved, choose_platform, finished_status, manifest_media_type,
};
pub use push::{CHUNK, Pushed};

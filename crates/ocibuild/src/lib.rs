//! Container images from RPMs (issue 4, R20): a recipe
//! (`images/<name>/image.yaml`, [`recipe`]) names a base image pinned by
//! digest, or `scratch`, and the RPMs to add; [`build()`] resolves them
//! ([`packages`]), installs them with the image's own rpm in a chroot
//! ([`rootfs`]) and writes ONE new layer, config and manifest as an OCI
//! image layout (and optionally an OCI archive) with mk-oci. Same inputs,
//! same digests. See docs/container-images.md.
//!
//! Needs root (chroot, mount namespaces) like mk-install.

pub mod build;
pub mod packages;
pub mod recipe;
pub mod reference;
pub mod rootfs;

pub use build::{
    build, image_config, inputs_key, BuildError, BuildOptions, Built, InputsKey, Timings,
    INPUTS_ANNOTATION,
};
pub use recipe::{Base, BaseImage, BaseSource, Compression, Port, Recipe, RecipeError, User};

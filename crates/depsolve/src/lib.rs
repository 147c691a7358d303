//! Resolving a kickstart-style package request against a set of RPM
//! packages, and ordering the result for installation.

//! Tests of the release packaging (`scripts/release`) and the krew manifests; the tests live in
//! `tests/`.

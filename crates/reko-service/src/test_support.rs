//! Helpers of the service's unit tests: a scope, synthetic face vectors, a store with a collection.

use std::collections::BTreeMap;
use std::sync::Arc;

use reko_store::{EmbeddedStore, Store};
use reko_vision::faces::embed::EMBEDDING_SIZE;

use crate::{NewFace, Scope, Service, image_id};

pub(crate) fn scope() -> Scope {
    Scope { account_id: "111122223333".into(), region: "us-east-1".into() }
}

/// A unit vector near one of a few "identities".
pub(crate) fn vector(identity: usize, sample: usize) -> Vec<f32> {
    let mut state = (identity * 7919 + sample * 104729 + 1) as u64;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
    };
    let mut v: Vec<f32> = (0..EMBEDDING_SIZE).map(|i| if i % 97 == identity % 97 { 4.0 } else { 0.0 }).collect();
    v.iter_mut().for_each(|x| *x += next());
    reko_vision::faces::embed::normalize(v)
}

/// A service over a fresh store (in the returned directory) with an empty collection "c".
pub(crate) fn collection_c() -> (tempfile::TempDir, Arc<dyn Store>, Service) {
    let data = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(EmbeddedStore::open(data.path()).unwrap());
    let service = Service::new(store.clone());
    service.create_collection(&scope(), "c", BTreeMap::new()).unwrap();
    (data, store, service)
}

/// Stores `n` faces with IndexFaces' storing half (one request), bypassing the models.
pub(crate) fn store_faces(service: &Service, n: usize) -> Vec<String> {
    let faces: Vec<NewFace> = (0..n)
        .map(|i| NewFace { bounding_box: [0.1, 0.1, 0.5, 0.5], confidence: 99.0, vector: vector(i % 50, i / 50) })
        .collect();
    let (stored, repeated) = service.store_faces(&scope(), "c", &image_id(b"faces"), None, &faces).unwrap();
    assert!(!repeated);
    stored.into_iter().map(|f| f.face_id).collect()
}

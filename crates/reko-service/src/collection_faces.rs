//! Faces in collections: IndexFaces, SearchFaces, SearchFacesByImage, ListFaces and DeleteFaces, over
//! the store (the truth) and the collection's vector index ([`crate::face_index`]), which changes only
//! after the store has committed.

use reko_store::{FaceRecord, Update};
use reko_vision::faces::FaceAnalysis;
use sha2::{Digest, Sha256};

use crate::faces::{QualityFilter, Vision, decoded};
use crate::pagination;
use crate::results::{DetectedFace, FaceReason, RatioBox};
use crate::{FACE_MODEL_VERSION, Scope, Service, ServiceError, now_ms};

/// ListFaces' page size when the request gives none.
pub const DEFAULT_LIST_FACES_PAGE: usize = 1000;
/// SearchFaces' and SearchFacesByImage's `FaceMatchThreshold` when the request gives none, as on Rekognition.
pub const DEFAULT_FACE_MATCH_THRESHOLD: f32 = 80.0;
/// Their `MaxFaces` when the request gives none: every match above the threshold.
pub const DEFAULT_MAX_FACE_MATCHES: u32 = 4096;
/// IndexFaces' `QualityFilter` when the request gives none, as on Rekognition (the searches default to
/// [`QualityFilter::None`]).
pub const DEFAULT_INDEX_QUALITY_FILTER: QualityFilter = QualityFilter::Auto;

/// What IndexFaces did with one image.
#[derive(Debug, Clone)]
pub struct IndexOutcome {
    /// The stored faces with their analyses, largest first.
    pub indexed: Vec<(FaceRecord, DetectedFace)>,
    /// Faces not indexed, with the reasons.
    pub unindexed: Vec<(DetectedFace, Vec<FaceReason>)>,
}

/// A face for [`Service::store_faces`]: its box (left, top, width, height as ratios of the image),
/// detection confidence (0–100) and unit vector.
#[derive(Debug, Clone)]
pub struct NewFace {
    pub bounding_box: [f32; 4],
    pub confidence: f32,
    pub vector: Vec<f32>,
}

/// A stored face and how similar it is to the searched one.
#[derive(Debug, Clone)]
pub struct FaceMatch {
    pub face: FaceRecord,
    pub similarity: f32,
}

/// SearchFacesByImage's answer.
#[derive(Debug, Clone)]
pub struct ImageSearch {
    /// The searched (largest) face.
    pub searched: DetectedFace,
    pub matches: Vec<FaceMatch>,
}

/// One page of ListFaces.
#[derive(Debug, Clone)]
pub struct FacePage {
    pub faces: Vec<FaceRecord>,
    pub next_token: Option<String>,
}

/// DeleteFaces' answer: the deleted ids, and the others with their reason.
#[derive(Debug, Clone, Default)]
pub struct Deletion {
    pub deleted: Vec<String>,
    pub failed: Vec<FailedDeletion>,
}

/// A face DeleteFaces did not delete.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedDeletion {
    pub face_id: String,
    pub reason: DeletionFailure,
    /// The user the face belongs to.
    pub user_id: Option<String>,
}

/// Why DeleteFaces did not delete a face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionFailure {
    FaceNotFound,
    /// Faces of a user are disassociated first, as on Rekognition.
    AssociatedToAnExistingUser,
}

/// A deterministic id for image bytes, in the UUID form the model requires.
pub fn image_id(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let h = hex::encode(&digest[..16]);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

fn ratio_box(face: &FaceAnalysis, width: u32, height: u32) -> [f32; 4] {
    let RatioBox { left, top, width, height } = RatioBox::of(&face.bbox, width, height);
    [left, top, width, height]
}

/// The stored face whose box is nearest to `face`'s (for answering a repeated IndexFaces).
fn nearest<'a>(stored: &'a [FaceRecord], face: &FaceAnalysis, width: u32, height: u32) -> Option<&'a FaceRecord> {
    let b = ratio_box(face, width, height);
    let distance = |r: &FaceRecord| (0..4).map(|i| (r.bounding_box[i] - b[i]).abs()).sum::<f32>();
    stored.iter().min_by(|x, y| distance(x).total_cmp(&distance(y)))
}

impl Service {
    /// The collection's record, if it exists and was made with this server's face model.
    pub(crate) fn existing_collection(
        &self,
        scope: &Scope,
        collection: &str,
    ) -> Result<reko_store::CollectionRecord, ServiceError> {
        self.store.collection(scope, collection)?.ok_or_else(|| ServiceError::CollectionNotFound(collection.to_owned()))
    }

    /// Checks that the collection exists and was made with this server's face model.
    pub(crate) fn searchable_collection(&self, scope: &Scope, collection: &str) -> Result<(), ServiceError> {
        let record = self.existing_collection(scope, collection)?;
        if record.face_model_version != FACE_MODEL_VERSION {
            return Err(ServiceError::ModelVersionMismatch {
                collection: collection.to_owned(),
                version: record.face_model_version,
            });
        }
        Ok(())
    }

    /// The decoded image and its faces (largest first), for an operation on a searchable collection;
    /// the collection is checked before any network runs.
    pub(crate) fn analyze_for(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        attributes: bool,
    ) -> Result<(image::RgbImage, &Vision, Vec<FaceAnalysis>), ServiceError> {
        self.searchable_collection(scope, collection)?;
        let rgb = decoded(image)?;
        let vision = self.vision()?;
        let faces = vision.faces.analyze(&vision.runtime, &rgb, attributes, reko_vision::faces::MAX_FACES)?;
        Ok((rgb, vision, faces))
    }

    /// IndexFaces: detects faces, keeps the largest `max_faces` that pass `filter`, and stores their
    /// vectors. The same image bytes with the same external id store nothing new: the faces stored the
    /// first time are returned.
    #[allow(clippy::too_many_arguments)]
    pub fn index_faces(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        external_image_id: Option<&str>,
        max_faces: Option<u32>,
        filter: QualityFilter,
        attributes: bool,
    ) -> Result<IndexOutcome, ServiceError> {
        let (rgb, vision, faces) = self.analyze_for(scope, collection, image, attributes)?;
        let (width, height) = (rgb.width(), rgb.height());
        let limit = max_faces.map_or(usize::MAX, |m| m as usize);
        let mut chosen = Vec::new();
        let mut unindexed = Vec::new();
        for face in faces {
            let reasons = filter.reasons(&face);
            if !reasons.is_empty() {
                unindexed.push((face, reasons));
            } else if chosen.len() >= limit {
                unindexed.push((face, vec![FaceReason::ExceedsMaxFaces]));
            } else {
                chosen.push(face);
            }
        }
        let vectors = vision.faces.embed(&vision.runtime, &rgb, &chosen)?;
        let new_faces: Vec<NewFace> = chosen
            .iter()
            .zip(vectors)
            .map(|(face, vector)| NewFace {
                bounding_box: ratio_box(face, width, height),
                confidence: crate::results::percent(face.score),
                vector,
            })
            .collect();
        let (stored, repeated) =
            self.store_faces(scope, collection, &image_id(image), external_image_id, &new_faces)?;
        let indexed: Vec<(FaceRecord, FaceAnalysis)> = if !repeated {
            stored.into_iter().zip(chosen).collect()
        } else {
            // A repeat: pair each stored face with the analysed face whose box matches it.
            chosen
                .into_iter()
                .filter_map(|face| nearest(&stored, &face, width, height).map(|s| (s.clone(), face)))
                .collect()
        };
        let detail = |face: &FaceAnalysis| DetectedFace::of(face, width, height);
        Ok(IndexOutcome {
            indexed: indexed.into_iter().map(|(record, face)| (record, detail(&face))).collect(),
            unindexed: unindexed.into_iter().map(|(face, reasons)| (detail(&face), reasons)).collect(),
        })
    }

    /// The storing half of IndexFaces (after the networks): the faces of one image, in one atomic
    /// transaction, then into the index. The same image id and external id again store nothing and
    /// return the faces stored the first time, with `true`.
    pub fn store_faces(
        &self,
        scope: &Scope,
        collection: &str,
        image_id: &str,
        external_image_id: Option<&str>,
        faces: &[NewFace],
    ) -> Result<(Vec<FaceRecord>, bool), ServiceError> {
        let image_key = format!("{image_id}/{}", external_image_id.unwrap_or(""));
        let created_at_ms = now_ms();
        self.with_index_mut(scope, collection, |index, changes| {
            let mut stored: Vec<FaceRecord> = Vec::new();
            let mut new_faces = Vec::new();
            let mut new_changes = 0;
            let outcome = self.store.write_collection(scope, collection, &mut |w| {
                stored.clear();
                new_faces.clear();
                if let Some(ids) = w.image_faces(&image_key)? {
                    for id in ids {
                        if let Some(face) = w.face(&id)? {
                            stored.push(face);
                        }
                    }
                    return Ok(Update::Abort);
                }
                for new in faces {
                    let record = w.collection();
                    let key = record.next_face_key;
                    record.next_face_key += 1;
                    record.face_count += 1;
                    let face = FaceRecord {
                        face_id: uuid::Uuid::new_v4().to_string(),
                        key,
                        image_id: image_id.to_owned(),
                        external_image_id: external_image_id.map(str::to_owned),
                        bounding_box: new.bounding_box,
                        confidence: new.confidence,
                        user_id: None,
                        model_version: FACE_MODEL_VERSION.to_owned(),
                        created_at_ms,
                    };
                    w.put_face(&face, Some(&new.vector))?;
                    new_faces.push((key, new.vector.clone()));
                    stored.push(face);
                }
                let ids: Vec<String> = stored.iter().map(|f| f.face_id.clone()).collect();
                w.put_image_faces(&image_key, &ids)?;
                w.collection().vector_changes += 1;
                new_changes = w.collection().vector_changes;
                Ok(Update::Commit)
            })?;
            match outcome {
                None => Err(ServiceError::CollectionNotFound(collection.to_owned())),
                Some(Update::Commit) => {
                    let keys: Vec<u64> = new_faces.iter().map(|(k, _)| *k).collect();
                    let vectors: Vec<f32> = new_faces.iter().flat_map(|(_, v)| v.iter().copied()).collect();
                    index.insert_batch(&keys, &vectors);
                    crate::face_index::advance(changes, new_changes);
                    Ok((stored, false))
                }
                Some(Update::Abort) => Ok((stored, true)),
            }
        })
    }

    /// A stored face's exact vector.
    pub(crate) fn stored_vector(
        &self,
        scope: &Scope,
        collection: &str,
        face: &FaceRecord,
    ) -> Result<Vec<f32>, ServiceError> {
        self.store
            .face_vectors(scope, collection, &[face.key])?
            .pop()
            .flatten()
            .map(|(_, v)| v)
            .ok_or_else(|| ServiceError::FaceNotFound(face.face_id.clone()))
    }

    /// The exact vectors of the faces among `face_ids` that exist, by face id (two read transactions in
    /// all, whatever the number of faces).
    pub(crate) fn stored_vectors(
        &self,
        scope: &Scope,
        collection: &str,
        face_ids: &[String],
    ) -> Result<Vec<(String, Vec<f32>)>, ServiceError> {
        let ids: Vec<&str> = face_ids.iter().map(String::as_str).collect();
        let faces: Vec<FaceRecord> = self.store.faces(scope, collection, &ids)?.into_iter().flatten().collect();
        let keys: Vec<u64> = faces.iter().map(|f| f.key).collect();
        faces
            .into_iter()
            .zip(self.store.face_vectors(scope, collection, &keys)?)
            .map(|(face, vector)| match vector {
                Some((_, vector)) => Ok((face.face_id, vector)),
                None => Err(ServiceError::FaceNotFound(face.face_id)),
            })
            .collect()
    }
    /// SearchFaces: the faces most similar to a stored face (itself left out).
    pub fn search_faces(
        &self,
        scope: &Scope,
        collection: &str,
        face_id: &str,
        max: usize,
        threshold: f32,
    ) -> Result<Vec<FaceMatch>, ServiceError> {
        self.searchable_collection(scope, collection)?;
        let face = self
            .store
            .face(scope, collection, face_id)?
            .ok_or_else(|| ServiceError::FaceNotFound(face_id.to_owned()))?;
        let vector = self.stored_vector(scope, collection, &face)?;
        self.search_vector(scope, collection, &vector, max, threshold, Some(face_id))
    }

    /// SearchFacesByImage: the largest face of the image that passes `filter`, searched.
    pub fn search_faces_by_image(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        max: usize,
        threshold: f32,
        filter: QualityFilter,
    ) -> Result<ImageSearch, ServiceError> {
        let (rgb, vision, faces) = self.analyze_for(scope, collection, image, false)?;
        let searched = faces.into_iter().find(|f| filter.passes(f)).ok_or(ServiceError::NoFaceInImage)?;
        let vector = vision.faces.embed(&vision.runtime, &rgb, std::slice::from_ref(&searched))?.remove(0);
        let matches = self.search_vector(scope, collection, &vector, max, threshold, None)?;
        Ok(ImageSearch { searched: DetectedFace::of(&searched, rgb.width(), rgb.height()), matches })
    }

    /// ListFaces: faces in face id order, or only those of `user_id`, or only `face_ids`.
    pub fn list_faces(
        &self,
        scope: &Scope,
        collection: &str,
        next_token: Option<&str>,
        max_results: Option<u32>,
        user_id: Option<&str>,
        face_ids: &[String],
    ) -> Result<FacePage, ServiceError> {
        self.existing_collection(scope, collection)?;
        let limit = pagination::page_size(max_results, DEFAULT_LIST_FACES_PAGE);
        let after = pagination::resume_after(next_token)?;
        let mut wanted: Option<Vec<String>> = (!face_ids.is_empty()).then(|| face_ids.to_vec());
        if let Some(user_id) = user_id {
            let user = self.store.user(scope, collection, user_id)?.map(|u| u.face_ids).unwrap_or_default();
            wanted = Some(match wanted {
                Some(ids) => ids.into_iter().filter(|id| user.contains(id)).collect(),
                None => user,
            });
        }
        let mut faces = match wanted {
            None => self.store.list_faces(scope, collection, after.as_deref(), limit + 1)?,
            Some(mut ids) => {
                ids.sort();
                ids.dedup();
                let candidates: Vec<&str> =
                    ids.iter().map(String::as_str).filter(|id| after.as_deref().is_none_or(|a| *id > a)).collect();
                // One batched read a page (ids that are no face are skipped, so read on until the page fills).
                let mut faces = Vec::new();
                for chunk in candidates.chunks(limit + 1) {
                    faces.extend(self.store.faces(scope, collection, chunk)?.into_iter().flatten());
                    if faces.len() > limit {
                        break;
                    }
                }
                faces
            }
        };
        let more = faces.len() > limit;
        faces.truncate(limit);
        let next_token = more.then(|| pagination::encode(&faces.last().expect("a full page").face_id));
        Ok(FacePage { faces, next_token })
    }

    /// DeleteFaces: deletes faces that exist and belong to no user.
    pub fn delete_faces(&self, scope: &Scope, collection: &str, face_ids: &[String]) -> Result<Deletion, ServiceError> {
        self.with_index_mut(scope, collection, |index, changes| {
            let mut result = Deletion::default();
            let mut removed_keys = Vec::new();
            let mut new_changes = None;
            let outcome = self.store.write_collection(scope, collection, &mut |w| {
                result = Deletion::default();
                removed_keys.clear();
                let mut seen = std::collections::HashSet::new();
                for id in face_ids.iter().filter(|id| seen.insert(id.as_str())) {
                    let Some(face) = w.face(id)? else {
                        result.failed.push(FailedDeletion {
                            face_id: id.clone(),
                            reason: DeletionFailure::FaceNotFound,
                            user_id: None,
                        });
                        continue;
                    };
                    if let Some(user) = &face.user_id {
                        result.failed.push(FailedDeletion {
                            face_id: id.clone(),
                            reason: DeletionFailure::AssociatedToAnExistingUser,
                            user_id: Some(user.clone()),
                        });
                        continue;
                    }
                    w.delete_face(id)?;
                    let image_key = format!("{}/{}", face.image_id, face.external_image_id.as_deref().unwrap_or(""));
                    if let Some(mut ids) = w.image_faces(&image_key)? {
                        ids.retain(|x| x != id);
                        w.put_image_faces(&image_key, &ids)?;
                    }
                    w.collection().face_count = w.collection().face_count.saturating_sub(1);
                    removed_keys.push(face.key);
                    result.deleted.push(id.clone());
                }
                if result.deleted.is_empty() {
                    return Ok(Update::Abort);
                }
                w.collection().vector_changes += 1;
                new_changes = Some(w.collection().vector_changes);
                Ok(Update::Commit)
            })?;
            match outcome {
                None => Err(ServiceError::CollectionNotFound(collection.to_owned())),
                Some(_) => {
                    for key in &removed_keys {
                        index.remove(*key);
                    }
                    if let Some(new_changes) = new_changes {
                        crate::face_index::advance(changes, new_changes);
                    }
                    Ok(result)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use reko_store::Update;

    use super::*;
    use crate::test_support::{collection_c, scope, store_faces};

    #[test]
    fn a_collection_of_another_face_model_version_is_refused_clearly() {
        let (_data, store, service) = collection_c();
        let ids = store_faces(&service, 3);
        store
            .update_collection(&scope(), "c", &mut |r| {
                r.face_model_version = "0.9".into();
                Update::Commit
            })
            .unwrap();
        let refused = service.search_faces(&scope(), "c", &ids[0], 5, 0.0).unwrap_err();
        assert!(matches!(&refused, ServiceError::ModelVersionMismatch { version, .. } if version == "0.9"));
        assert!(refused.to_string().contains("face model version 0.9"), "{refused}");
        // Listing and deleting still work: the faces can be cleaned out.
        assert_eq!(service.list_faces(&scope(), "c", None, None, None, &[]).unwrap().faces.len(), 3);
    }
}

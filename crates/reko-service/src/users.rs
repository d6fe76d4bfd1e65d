//! Users of a collection: CreateUser, DeleteUser, ListUsers, AssociateFaces, DisassociateFaces,
//! SearchUsers and SearchUsersByImage. Writes that carry a `ClientRequestToken` are idempotent: the
//! token, a digest of the parameters and the answer are committed with the change itself.

use std::collections::HashMap;

use reko_store::{CollectionWrite, RequestRecord, StoreError, Update, UserRecord};
use reko_vision::faces::{FaceAnalysis, embed, similarity};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::faces::QualityFilter;
use crate::pagination;
use crate::results::{DetectedFace, FaceReason};
use crate::{Scope, Service, ServiceError, now_ms};

/// The most faces one user may have, as on Rekognition.
pub const MAX_FACES_PER_USER: usize = 100;

/// ListUsers' page size when the request gives none.
pub const DEFAULT_LIST_USERS_PAGE: usize = 100;

/// AssociateFaces' `UserMatchThreshold` default.
pub const DEFAULT_USER_MATCH_THRESHOLD: f32 = 75.0;
/// SearchUsers' and SearchUsersByImage's `UserMatchThreshold` default, as on Rekognition.
pub const DEFAULT_USER_SEARCH_THRESHOLD: f32 = 80.0;
/// `MaxUsers` of the user searches when the request gives none.
pub const DEFAULT_MAX_USERS: u32 = 500;

/// A user as ListUsers and the search operations report it.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub user_id: String,
    pub status: UserStatus,
}

/// Where a user stands. reko is synchronous, so a user is never being created or updated. (Stored in
/// remembered answers under these names.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    /// No faces yet.
    #[default]
    Created,
    /// At least one face.
    Active,
}

fn status(face_count: usize) -> UserStatus {
    if face_count > 0 { UserStatus::Active } else { UserStatus::Created }
}

/// Why AssociateFaces or DisassociateFaces left a face alone. (Stored in remembered answers under
/// these names.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssociationFailure {
    FaceNotFound,
    AssociatedToADifferentUser,
    /// Less similar to the user's faces than `UserMatchThreshold`.
    LowMatchConfidence,
}

/// What AssociateFaces or DisassociateFaces did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Association {
    /// The faces now (dis)associated.
    pub done: Vec<String>,
    /// (face id, reasons, the face's user, confidence) of the others.
    pub failed: Vec<FailedFace>,
    pub user_status: UserStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedFace {
    pub face_id: String,
    pub reasons: Vec<AssociationFailure>,
    pub user_id: Option<String>,
    pub confidence: Option<f32>,
}

/// SearchUsersByImage's answer.
#[derive(Debug, Clone)]
pub struct UserImageSearch {
    pub searched: Option<DetectedFace>,
    pub matches: Vec<(User, f32)>,
    pub unsearched: Vec<(DetectedFace, Vec<FaceReason>)>,
}

/// One page of ListUsers.
#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next_token: Option<String>,
}

pub(crate) fn digest(parameters: &impl Serialize) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(parameters).expect("parameters serialise")))
}

/// The unit mean of some unit vectors.
fn centroid<'a>(vectors: impl IntoIterator<Item = &'a Vec<f32>>) -> Option<Vec<f32>> {
    let mut sum: Option<Vec<f32>> = None;
    for v in vectors {
        match &mut sum {
            None => sum = Some(v.clone()),
            Some(s) => s.iter_mut().zip(v).for_each(|(a, b)| *a += b),
        }
    }
    sum.map(embed::normalize)
}

impl Service {
    /// Runs a user write in one transaction, remembering its answer under `token` when there is one.
    fn idempotent<R: Serialize + DeserializeOwned>(
        &self,
        scope: &Scope,
        collection: &str,
        operation: &str,
        token: Option<&str>,
        parameters: &impl Serialize,
        mut body: impl FnMut(&mut dyn CollectionWrite) -> Result<Result<R, ServiceError>, StoreError>,
    ) -> Result<R, ServiceError> {
        let request_key = token.map(|t| format!("{operation}/{t}"));
        let parameters = digest(parameters);
        let mut answer: Option<Result<R, ServiceError>> = None;
        let outcome = self.store.write_collection(scope, collection, &mut |w| {
            if let Some(key) = &request_key
                && let Some(previous) = w.request(key)?
            {
                answer = Some(if previous.parameters == parameters {
                    serde_json::from_value(previous.response)
                        .map_err(|e| StoreError::Corrupt { key: key.clone(), reason: e.to_string() })
                        .map_err(ServiceError::from)
                } else {
                    Err(ServiceError::IdempotencyMismatch)
                });
                return Ok(Update::Abort);
            }
            let result = body(w)?;
            let commit = match (&result, &request_key) {
                (Ok(response), Some(key)) => {
                    let response = serde_json::to_value(response).expect("answers serialise");
                    w.put_request(
                        key,
                        &RequestRecord { parameters: parameters.clone(), response, created_at_ms: now_ms() },
                    )?;
                    true
                }
                (Ok(_), None) => true,
                (Err(_), _) => false,
            };
            answer = Some(result);
            Ok(if commit { Update::Commit } else { Update::Abort })
        })?;
        match (outcome, answer) {
            (None, _) => Err(ServiceError::CollectionNotFound(collection.to_owned())),
            (Some(_), Some(answer)) => answer,
            (Some(_), None) => unreachable!("the transaction body ran"),
        }
    }

    pub fn create_user(
        &self,
        scope: &Scope,
        collection: &str,
        user_id: &str,
        token: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.idempotent(scope, collection, "CreateUser", token, &(collection, user_id), |w| {
            if w.user(user_id)?.is_some() {
                return Ok(Err(ServiceError::UserAlreadyExists(user_id.to_owned())));
            }
            w.put_user(&UserRecord { user_id: user_id.to_owned(), face_ids: Vec::new(), created_at_ms: now_ms() })?;
            w.collection().user_count += 1;
            Ok(Ok(()))
        })
    }

    /// DeleteUser: the user's faces stay in the collection, no longer associated.
    pub fn delete_user(
        &self,
        scope: &Scope,
        collection: &str,
        user_id: &str,
        token: Option<&str>,
    ) -> Result<(), ServiceError> {
        self.idempotent(scope, collection, "DeleteUser", token, &(collection, user_id), |w| {
            let Some(user) = w.delete_user(user_id)? else {
                return Ok(Err(ServiceError::UserNotFound(user_id.to_owned())));
            };
            for face_id in &user.face_ids {
                if let Some(mut face) = w.face(face_id)? {
                    face.user_id = None;
                    w.put_face(&face, None)?;
                }
            }
            w.collection().user_count = w.collection().user_count.saturating_sub(1);
            Ok(Ok(()))
        })
    }

    pub fn list_users(
        &self,
        scope: &Scope,
        collection: &str,
        next_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<UserPage, ServiceError> {
        self.existing_collection(scope, collection)?;
        let limit = pagination::page_size(max_results, DEFAULT_LIST_USERS_PAGE);
        let after = pagination::resume_after(next_token)?;
        let mut users = self.store.list_users(scope, collection, after.as_deref(), limit + 1)?;
        let more = users.len() > limit;
        users.truncate(limit);
        let next_token = more.then(|| pagination::encode(&users.last().expect("a full page").user_id));
        Ok(UserPage {
            users: users.into_iter().map(|u| User { status: status(u.face_ids.len()), user_id: u.user_id }).collect(),
            next_token,
        })
    }

    /// AssociateFaces: each face joins the user if it exists, belongs to no other user, and is at least
    /// `threshold` similar to the user's faces (their mean); a user's first face is taken as it is.
    pub fn associate_faces(
        &self,
        scope: &Scope,
        collection: &str,
        user_id: &str,
        face_ids: &[String],
        threshold: f32,
        token: Option<&str>,
    ) -> Result<Association, ServiceError> {
        // Vectors never change under a key, so they can be read before the transaction.
        let mut wanted = self.store.user(scope, collection, user_id)?.map(|u| u.face_ids).unwrap_or_default();
        wanted.extend_from_slice(face_ids);
        let vectors: HashMap<String, Vec<f32>> = self.stored_vectors(scope, collection, &wanted)?.into_iter().collect();
        let parameters = (collection, user_id, face_ids, threshold.to_bits());
        self.idempotent(scope, collection, "AssociateFaces", token, &parameters, |w| {
            let Some(mut user) = w.user(user_id)? else {
                return Ok(Err(ServiceError::UserNotFound(user_id.to_owned())));
            };
            let mut result = Association::default();
            let mut members: Vec<&Vec<f32>> = user.face_ids.iter().filter_map(|id| vectors.get(id)).collect();
            let mut seen = std::collections::HashSet::new();
            for id in face_ids.iter().filter(|id| seen.insert(id.as_str())) {
                let fail = |reason, owner: Option<String>, confidence: Option<f32>| FailedFace {
                    face_id: id.clone(),
                    reasons: vec![reason],
                    user_id: owner,
                    confidence,
                };
                let (Some(mut face), Some(vector)) = (w.face(id)?, vectors.get(id)) else {
                    result.failed.push(fail(AssociationFailure::FaceNotFound, None, None));
                    continue;
                };
                match face.user_id.as_deref() {
                    Some(owner) if owner == user_id => {
                        result.done.push(id.clone());
                        continue;
                    }
                    Some(owner) => {
                        let reason = AssociationFailure::AssociatedToADifferentUser;
                        result.failed.push(fail(reason, Some(owner.to_owned()), None));
                        continue;
                    }
                    None => {}
                }
                if let Some(mean) = centroid(members.iter().copied()) {
                    let sim = similarity::from_cosine(embed::cosine(&mean, vector));
                    if sim < threshold {
                        result.failed.push(fail(AssociationFailure::LowMatchConfidence, None, Some(sim)));
                        continue;
                    }
                }
                if user.face_ids.len() >= MAX_FACES_PER_USER {
                    return Ok(Err(ServiceError::TooManyUserFaces(user_id.to_owned())));
                }
                face.user_id = Some(user_id.to_owned());
                w.put_face(&face, None)?;
                user.face_ids.push(id.clone());
                members.push(vector);
                result.done.push(id.clone());
            }
            w.put_user(&user)?;
            result.user_status = status(user.face_ids.len());
            Ok(Ok(result))
        })
    }

    pub fn disassociate_faces(
        &self,
        scope: &Scope,
        collection: &str,
        user_id: &str,
        face_ids: &[String],
        token: Option<&str>,
    ) -> Result<Association, ServiceError> {
        self.idempotent(scope, collection, "DisassociateFaces", token, &(collection, user_id, face_ids), |w| {
            let Some(mut user) = w.user(user_id)? else {
                return Ok(Err(ServiceError::UserNotFound(user_id.to_owned())));
            };
            let mut result = Association::default();
            let mut seen = std::collections::HashSet::new();
            for id in face_ids.iter().filter(|id| seen.insert(id.as_str())) {
                let Some(mut face) = w.face(id)? else {
                    result.failed.push(FailedFace {
                        face_id: id.clone(),
                        reasons: vec![AssociationFailure::FaceNotFound],
                        user_id: None,
                        confidence: None,
                    });
                    continue;
                };
                if face.user_id.as_deref() != Some(user_id) {
                    result.failed.push(FailedFace {
                        face_id: id.clone(),
                        reasons: vec![AssociationFailure::AssociatedToADifferentUser],
                        user_id: face.user_id.clone(),
                        confidence: None,
                    });
                    continue;
                }
                face.user_id = None;
                w.put_face(&face, None)?;
                user.face_ids.retain(|f| f != id);
                result.done.push(id.clone());
            }
            w.put_user(&user)?;
            result.user_status = status(user.face_ids.len());
            Ok(Ok(result))
        })
    }

    /// Users whose faces are at least `threshold` similar to `vector`, each with its best face's
    /// similarity, most similar first.
    #[allow(clippy::too_many_arguments)]
    fn search_users_vector(
        &self,
        scope: &Scope,
        collection: &str,
        vector: &[f32],
        max_users: usize,
        threshold: f32,
        exclude_face: Option<&str>,
        exclude_user: Option<&str>,
    ) -> Result<Vec<(User, f32)>, ServiceError> {
        let faces = (max_users * MAX_FACES_PER_USER).min(4096);
        let matches = self.search_vector(scope, collection, vector, faces, threshold, exclude_face)?;
        let mut best: Vec<(String, f32)> = Vec::new();
        for m in matches {
            let Some(user) = m.face.user_id else { continue };
            if Some(user.as_str()) == exclude_user || best.iter().any(|(u, _)| *u == user) {
                continue;
            }
            best.push((user, m.similarity));
        }
        best.truncate(max_users);
        Ok(best.into_iter().map(|(user_id, s)| (User { user_id, status: UserStatus::Active }, s)).collect())
    }

    /// SearchUsers by a stored face or by a user (the mean of its faces; the user itself left out).
    pub fn search_users(
        &self,
        scope: &Scope,
        collection: &str,
        face_id: Option<&str>,
        user_id: Option<&str>,
        max_users: usize,
        threshold: f32,
    ) -> Result<Vec<(User, f32)>, ServiceError> {
        self.searchable_collection(scope, collection)?;
        match (face_id, user_id) {
            (Some(face_id), None) => {
                let face = self
                    .store
                    .face(scope, collection, face_id)?
                    .ok_or_else(|| ServiceError::FaceNotFound(face_id.to_owned()))?;
                let vector = self.stored_vector(scope, collection, &face)?;
                self.search_users_vector(scope, collection, &vector, max_users, threshold, Some(face_id), None)
            }
            (None, Some(user_id)) => {
                let user = self
                    .store
                    .user(scope, collection, user_id)?
                    .ok_or_else(|| ServiceError::UserNotFound(user_id.to_owned()))?;
                let vectors = self.stored_vectors(scope, collection, &user.face_ids)?;
                let Some(mean) = centroid(vectors.iter().map(|(_, v)| v)) else { return Ok(Vec::new()) };
                self.search_users_vector(scope, collection, &mean, max_users, threshold, None, Some(user_id))
            }
            _ => Err(ServiceError::InvalidRequest("Exactly one of FaceId and UserId must be given".into())),
        }
    }

    /// SearchUsersByImage: the largest face that passes `filter` is searched; an image without one is
    /// not an error.
    pub fn search_users_by_image(
        &self,
        scope: &Scope,
        collection: &str,
        image: &[u8],
        max_users: usize,
        threshold: f32,
        filter: QualityFilter,
    ) -> Result<UserImageSearch, ServiceError> {
        let (rgb, vision, faces) = self.analyze_for(scope, collection, image, false)?;
        let mut searched = None;
        let mut unsearched = Vec::new();
        for face in faces {
            let reasons = filter.reasons(&face);
            if !reasons.is_empty() {
                unsearched.push((face, reasons));
            } else if searched.is_some() {
                unsearched.push((face, vec![FaceReason::FaceNotLargest]));
            } else {
                searched = Some(face);
            }
        }
        let matches = match &searched {
            Some(face) => {
                let vector = vision.faces.embed(&vision.runtime, &rgb, std::slice::from_ref(face))?.remove(0);
                self.search_users_vector(scope, collection, &vector, max_users, threshold, None, None)?
            }
            None => Vec::new(),
        };
        let detail = |face: &FaceAnalysis| DetectedFace::of(face, rgb.width(), rgb.height());
        Ok(UserImageSearch {
            searched: searched.as_ref().map(detail),
            matches,
            unsearched: unsearched.into_iter().map(|(face, reasons)| (detail(&face), reasons)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_remembered_before_the_enums_still_read() {
        // The shape answers were stored in when status and reasons were strings.
        let stored = serde_json::json!({
            "done": ["a"],
            "failed": [
                {"face_id": "b", "reasons": ["ASSOCIATED_TO_A_DIFFERENT_USER"], "user_id": "u2", "confidence": null},
                {"face_id": "c", "reasons": ["LOW_MATCH_CONFIDENCE"], "user_id": null, "confidence": 41.5},
                {"face_id": "d", "reasons": ["FACE_NOT_FOUND"], "user_id": null, "confidence": null}
            ],
            "user_status": "ACTIVE"
        });
        let answer: Association = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(answer.user_status, UserStatus::Active);
        let reasons: Vec<AssociationFailure> = answer.failed.iter().flat_map(|f| f.reasons.clone()).collect();
        use AssociationFailure::*;
        assert_eq!(reasons, [AssociatedToADifferentUser, LowMatchConfidence, FaceNotFound]);
        assert_eq!(serde_json::to_value(&answer).unwrap(), stored);
    }
}

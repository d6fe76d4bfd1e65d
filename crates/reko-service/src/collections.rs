//! Collection operations: create, describe, list, delete, and tags on collections.

use std::collections::BTreeMap;

use reko_store::{CollectionRecord, Update};

use crate::pagination::{self, Resume};
use crate::{
    DEFAULT_LIST_COLLECTIONS_PAGE, FACE_MODEL_VERSION, MAX_TAGS_PER_RESOURCE, ResourceArn, Scope, Service,
    ServiceError, now_ms,
};

/// A collection as the operations report it.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub id: String,
    pub arn: String,
    pub face_model_version: String,
    /// Seconds since the Unix epoch.
    pub created_at: f64,
    pub face_count: u64,
    pub user_count: u64,
}

/// One page of ListCollections.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionPage {
    /// (collection id, face model version), in id order.
    pub collections: Vec<(String, String)>,
    pub next_token: Option<String>,
}

impl Collection {
    fn from_record(scope: &Scope, record: CollectionRecord) -> Collection {
        Collection {
            arn: ResourceArn::collection(scope, &record.collection_id),
            id: record.collection_id,
            face_model_version: record.face_model_version,
            created_at: record.created_at_ms as f64 / 1000.0,
            face_count: record.face_count,
            user_count: record.user_count,
        }
    }
}

impl Service {
    pub fn create_collection(
        &self,
        scope: &Scope,
        id: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<Collection, ServiceError> {
        if tags.len() > MAX_TAGS_PER_RESOURCE {
            return Err(ServiceError::TooManyTags(tags.len()));
        }
        let record = CollectionRecord { tags, ..CollectionRecord::new(id, FACE_MODEL_VERSION, now_ms()) };
        if !self.store.insert_collection(scope, &record)? {
            return Err(ServiceError::CollectionAlreadyExists(id.to_owned()));
        }
        Ok(Collection::from_record(scope, record))
    }

    pub fn describe_collection(&self, scope: &Scope, id: &str) -> Result<Collection, ServiceError> {
        let record =
            self.store.collection(scope, id)?.ok_or_else(|| ServiceError::CollectionNotFound(id.to_owned()))?;
        Ok(Collection::from_record(scope, record))
    }

    pub fn delete_collection(&self, scope: &Scope, id: &str) -> Result<(), ServiceError> {
        self.forget_index(scope, id, || {
            if self.store.delete_collection(scope, id)? {
                Ok(())
            } else {
                Err(ServiceError::CollectionNotFound(id.to_owned()))
            }
        })
    }

    /// Collections in id order, `max_results` at a time (0 or none: the default page size).
    pub fn list_collections(
        &self,
        scope: &Scope,
        next_token: Option<&str>,
        max_results: Option<u32>,
    ) -> Result<CollectionPage, ServiceError> {
        let limit = match max_results {
            Some(n) if n > 0 => n as usize,
            _ => DEFAULT_LIST_COLLECTIONS_PAGE,
        };
        let after = match next_token.map(pagination::decode).transpose()? {
            None => None,
            Some(Resume::After(id)) => Some(id),
            Some(Resume::AfterHashed { prefix, hash }) => Some(self.find_hashed(scope, &prefix, &hash)?),
        };
        // One extra record tells whether another page follows.
        let mut records = self.store.list_collections(scope, after.as_deref(), limit + 1)?;
        let more = records.len() > limit;
        records.truncate(limit);
        let next_token = more.then(|| pagination::encode(&records.last().expect("a full page").collection_id));
        Ok(CollectionPage {
            collections: records.into_iter().map(|r| (r.collection_id, r.face_model_version)).collect(),
            next_token,
        })
    }

    /// The id a hashed token points at; if that collection is gone, resume at its prefix.
    fn find_hashed(&self, scope: &Scope, prefix: &str, hash: &str) -> Result<String, ServiceError> {
        let mut after = prefix.to_owned();
        loop {
            let batch = self.store.list_collections(scope, Some(&after), 256)?;
            for record in &batch {
                if !record.collection_id.starts_with(prefix) {
                    return Ok(prefix.to_owned());
                }
                if pagination::id_hash(&record.collection_id) == hash {
                    return Ok(record.collection_id.clone());
                }
            }
            match batch.last() {
                Some(last) => after = last.collection_id.clone(),
                None => return Ok(prefix.to_owned()),
            }
        }
    }

    pub fn tag_resource(&self, scope: &Scope, arn: &str, tags: BTreeMap<String, String>) -> Result<(), ServiceError> {
        if is_custom_labels(arn) {
            return self
                .custom_tags(scope, arn, |current| {
                    let mut merged = current.clone();
                    merged.extend(tags.clone());
                    if merged.len() > MAX_TAGS_PER_RESOURCE {
                        return Err(ServiceError::TooManyTags(merged.len()));
                    }
                    *current = merged;
                    Ok(())
                })
                .map(drop);
        }
        let id = self.owned_collection(scope, arn)?;
        let mut too_many = None;
        let updated = self.store.update_collection(scope, &id, &mut |record| {
            let mut merged = record.tags.clone();
            merged.extend(tags.clone());
            if merged.len() > MAX_TAGS_PER_RESOURCE {
                too_many = Some(merged.len());
                return Update::Abort;
            }
            record.tags = merged;
            Update::Commit
        })?;
        match (updated, too_many) {
            (None, _) => Err(ServiceError::ResourceNotFound(arn.to_owned())),
            (Some(_), Some(count)) => Err(ServiceError::TooManyTags(count)),
            (Some(_), None) => Ok(()),
        }
    }

    pub fn untag_resource(&self, scope: &Scope, arn: &str, keys: &[String]) -> Result<(), ServiceError> {
        if is_custom_labels(arn) {
            return self
                .custom_tags(scope, arn, |current| {
                    keys.iter().for_each(|key| drop(current.remove(key)));
                    Ok(())
                })
                .map(drop);
        }
        let id = self.owned_collection(scope, arn)?;
        let updated = self.store.update_collection(scope, &id, &mut |record| {
            for key in keys {
                record.tags.remove(key);
            }
            Update::Commit
        })?;
        updated.map(|_| ()).ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))
    }

    pub fn list_tags_for_resource(&self, scope: &Scope, arn: &str) -> Result<BTreeMap<String, String>, ServiceError> {
        if is_custom_labels(arn) {
            return self.custom_tags(scope, arn, |_| Ok(()));
        }
        let id = self.owned_collection(scope, arn)?;
        let record =
            self.store.collection(scope, &id)?.ok_or_else(|| ServiceError::ResourceNotFound(arn.to_owned()))?;
        Ok(record.tags)
    }

    /// The collection id an ARN names, if it is a collection of the caller's account and region. Anything
    /// else is "not found": one account learns nothing about another's resources.
    fn owned_collection(&self, scope: &Scope, arn: &str) -> Result<String, ServiceError> {
        let parsed = ResourceArn::parse(arn)?;
        if !parsed.is_in(scope) || parsed.resource_type != "collection" {
            return Err(ServiceError::ResourceNotFound(arn.to_owned()));
        }
        Ok(parsed.resource_id)
    }
}

/// Whether an ARN names a Custom Labels project, dataset or model version (`...:project/...`).
fn is_custom_labels(arn: &str) -> bool {
    ResourceArn::parse(arn).is_ok_and(|parsed| parsed.resource_type == "project")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use reko_store::EmbeddedStore;

    fn service() -> (tempfile::TempDir, Service) {
        let dir = tempfile::tempdir().unwrap();
        let store = EmbeddedStore::open(dir.path()).unwrap();
        (dir, Service::new(Arc::new(store)))
    }

    fn scope() -> Scope {
        Scope { account_id: "111122223333".into(), region: "us-east-1".into() }
    }

    #[test]
    fn pagination_visits_every_collection_once_even_with_long_ids() {
        let (_dir, service) = service();
        let mut expected: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
        expected.extend((0..4).map(|i| format!("{}{i}", "L".repeat(200))));
        for id in &expected {
            service.create_collection(&scope(), id, BTreeMap::new()).unwrap();
        }
        expected.sort();
        let mut seen = Vec::new();
        let mut token = None;
        loop {
            let page = service.list_collections(&scope(), token.as_deref(), Some(2)).unwrap();
            assert!(page.collections.len() <= 2);
            seen.extend(page.collections.into_iter().map(|(id, _)| id));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, expected);
    }

    #[test]
    fn tags_merge_remove_and_respect_the_quota_and_the_owner() {
        let (_dir, service) = service();
        let created = service.create_collection(&scope(), "x", BTreeMap::from([("a".into(), "1".into())])).unwrap();
        service.tag_resource(&scope(), &created.arn, BTreeMap::from([("b".into(), "2".into())])).unwrap();
        service.untag_resource(&scope(), &format!("arn:{}", created.arn), &["a".into()]).unwrap();
        assert_eq!(
            service.list_tags_for_resource(&scope(), &created.arn).unwrap(),
            BTreeMap::from([("b".into(), "2".into())])
        );
        let many: BTreeMap<String, String> = (0..50).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(matches!(service.tag_resource(&scope(), &created.arn, many), Err(ServiceError::TooManyTags(51))));
        let other = Scope { account_id: "999999999999".into(), region: "us-east-1".into() };
        assert!(matches!(service.list_tags_for_resource(&other, &created.arn), Err(ServiceError::ResourceNotFound(_))));
    }
}

//! Image records, upload reservations and hashed API keys in one DynamoDB table keyed by `pk`/`sk`:
//!
//! | item   | pk                          | sk                 |
//! |--------|-----------------------------|--------------------|
//! | key    | `KEY#{sha256}`              | `KEY`              |
//! | image  | `IMAGES#{account}#{stage}`  | `IMAGE#{image_id}` |
//! | upload | `UPLOADS#{account}#{stage}` | `UPLOAD#{image_id}`|
//! | rate   | `RATE#{sha256}`             | `MINUTE#{n}`       |
//! | retry  | `IDEMPOTENCY#{account}#{stage}` | `KEY#{key}`    |
//!
//! Ids sort by creation time, so listing is a Query in key order; nothing ever scans. Creates are
//! conditional on the item being new, and changes on holding the image's lease.

use std::collections::HashMap;
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};

use super::sdk_error;
use crate::domain::{
    BackendError, Format, Image, ImageId, KeyRecord, Owner, Stage, Upload, UploadStatus,
};
use crate::sdk::LazyClient;
use crate::store::{
    BackendResult, IdempotencyRecord, IdempotencyStore, ImageIndex, KeyStore, Lease, ListStart,
    Locked, RateLimiter, StoredResponse, UploadIndex, Window,
};

type Item = HashMap<String, AttributeValue>;

/// The attribute DynamoDB's TTL deletes items by (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expires_at";

pub struct DynamoStore {
    client: LazyClient<Client>,
    table: String,
}

impl DynamoStore {
    pub fn new(client: LazyClient<Client>, table: &str) -> Self {
        Self {
            client,
            table: table.to_owned(),
        }
    }

    async fn get_item(&self, pk: String, sk: String) -> BackendResult<Option<Item>> {
        let output = self
            .client
            .get()
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(output.item)
    }

    /// Creates `item` unless an item with its key exists.
    async fn put_new(&self, item: Item) -> BackendResult<()> {
        match self
            .client
            .get()
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(BackendError::AlreadyExists),
            Err(error) => Err(sdk_error(error)),
        }
    }
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn images_pk(owner: &Owner) -> String {
    format!("IMAGES#{}#{}", owner.account, owner.stage)
}

fn image_sk(id: &ImageId) -> String {
    format!("IMAGE#{id}")
}

fn uploads_pk(owner: &Owner) -> String {
    format!("UPLOADS#{}#{}", owner.account, owner.stage)
}

fn upload_sk(id: &ImageId) -> String {
    format!("UPLOAD#{id}")
}

fn key_pk(hash: &str) -> String {
    format!("KEY#{hash}")
}

fn account_pk(account: &str) -> String {
    format!("ACCOUNT#{account}")
}

fn corrupt(what: &str) -> BackendError {
    BackendError::failed(format!("malformed item: {what}"))
}

fn string<'a>(item: &'a Item, name: &str) -> BackendResult<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(corrupt(name)),
    }
}

fn number<T: FromStr>(item: &Item, name: &str) -> BackendResult<T> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    }
}

fn optional_string(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Some(value.clone()),
        _ => None,
    }
}

fn millis(item: &Item, name: &str) -> BackendResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(number(item, name)?).ok_or_else(|| corrupt(name))
}

fn image_item(owner: &Owner, image: &Image) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(images_pk(owner))),
        ("sk".to_owned(), s(image_sk(&image.id))),
        ("id".to_owned(), s(image.id.as_str())),
        ("name".to_owned(), s(&image.name)),
        ("width".to_owned(), n(image.width)),
        ("height".to_owned(), n(image.height)),
        ("format".to_owned(), s(image.format.as_str())),
        ("size".to_owned(), n(image.size)),
        (
            "created_at".to_owned(),
            n(image.created_at.timestamp_millis()),
        ),
    ]);
    if let Some(url) = &image.url {
        item.insert("url".to_owned(), s(url));
    }
    item
}

fn image_from(item: &Item) -> BackendResult<Image> {
    Ok(Image {
        id: ImageId::parse(string(item, "id")?).ok_or_else(|| corrupt("id"))?,
        name: string(item, "name")?.to_owned(),
        url: optional_string(item, "url"),
        width: number(item, "width")?,
        height: number(item, "height")?,
        format: Format::parse(string(item, "format")?).ok_or_else(|| corrupt("format"))?,
        size: number(item, "size")?,
        created_at: millis(item, "created_at")?,
    })
}

fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    /// An update of one image that holds only while `lease` does; the image as it is after.
    async fn update_leased(
        &self,
        owner: &Owner,
        id: &ImageId,
        lease: &Lease,
        update: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> BackendResult<Option<Item>> {
        let mut request = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(images_pk(owner)))
            .key("sk", s(image_sk(id)))
            .update_expression(update)
            .condition_expression("lease_token = :token")
            .expression_attribute_values(":token", s(&lease.token))
            .return_values(ReturnValue::AllNew);
        if update.contains("#url") {
            request = request.expression_attribute_names("#url", "url");
        }
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(output) => Ok(output.attributes),
            Err(error) if is_condition_failure(&error) => Err(BackendError::LeaseLost),
            Err(error) => Err(sdk_error(error)),
        }
    }
}

#[async_trait]
impl ImageIndex for DynamoStore {
    async fn insert(&self, owner: &Owner, image: &Image) -> BackendResult<()> {
        self.put_new(image_item(owner, image)).await
    }

    async fn get(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Image>> {
        self.get_item(images_pk(owner), image_sk(id))
            .await?
            .as_ref()
            .map(image_from)
            .transpose()
    }

    async fn list(
        &self,
        owner: &Owner,
        start: ListStart<'_>,
        limit: usize,
    ) -> BackendResult<Vec<Image>> {
        let (condition, newest_first, cursor) = match start {
            ListStart::Newest => ("pk = :pk", false, None),
            ListStart::AtOrOlderThan(id) => ("pk = :pk AND sk <= :cursor", false, Some(id)),
            ListStart::NewerThan(id) => ("pk = :pk AND sk > :cursor", true, Some(id)),
        };
        let mut images = Vec::with_capacity(limit);
        let mut resume = None;
        // A page of a Query stops at 1 MB; keep going until `limit` images or the end.
        loop {
            let mut query = self
                .client
                .get()
                .query()
                .table_name(&self.table)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(images_pk(owner)))
                .scan_index_forward(newest_first)
                .consistent_read(true)
                .limit(i32::try_from(limit - images.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(resume);
            if let Some(id) = cursor {
                query = query.expression_attribute_values(":cursor", s(image_sk(id)));
            }
            let output = query.send().await.map_err(sdk_error)?;
            for item in output.items() {
                images.push(image_from(item)?);
            }
            resume = output.last_evaluated_key;
            if resume.is_none() || images.len() >= limit {
                return Ok(images);
            }
        }
    }

    async fn lock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<Locked> {
        let now = Utc::now().timestamp_millis();
        let taken = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(images_pk(owner)))
            .key("sk", s(image_sk(id)))
            .update_expression("SET lease_token = :token, lease_expires = :expires")
            .condition_expression(
                "attribute_exists(pk) AND \
                 (attribute_not_exists(lease_token) OR lease_expires < :now)",
            )
            .expression_attribute_values(":token", s(&lease.token))
            .expression_attribute_values(":expires", n(lease.expires_at.timestamp_millis()))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match taken {
            Ok(output) => {
                let item = output.attributes.ok_or_else(|| corrupt("no attributes"))?;
                Ok(Locked::Acquired(image_from(&item)?))
            }
            Err(error) if is_condition_failure(&error) => Ok(match self.get(owner, id).await? {
                Some(_) => Locked::Busy,
                None => Locked::Missing,
            }),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn set_url(
        &self,
        owner: &Owner,
        id: &ImageId,
        lease: &Lease,
        url: Option<&str>,
    ) -> BackendResult<Image> {
        let item = match url {
            Some(url) => {
                self.update_leased(owner, id, lease, "SET #url = :url", vec![(":url", s(url))])
                    .await?
            }
            None => {
                self.update_leased(owner, id, lease, "REMOVE #url", vec![])
                    .await?
            }
        };
        image_from(&item.ok_or_else(|| corrupt("no attributes"))?)
    }

    async fn unlock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()> {
        let released = self
            .update_leased(
                owner,
                id,
                lease,
                "REMOVE lease_token, lease_expires",
                vec![],
            )
            .await;
        match released {
            Ok(_) | Err(BackendError::LeaseLost) => Ok(()),
            Err(error) => Err(error),
        }
    }

    async fn delete(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()> {
        let deleted = self
            .client
            .get()
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(images_pk(owner)))
            .key("sk", s(image_sk(id)))
            .condition_expression("lease_token = :token")
            .expression_attribute_values(":token", s(&lease.token))
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error) if is_condition_failure(&error) => Err(BackendError::LeaseLost),
            Err(error) => Err(sdk_error(error)),
        }
    }
}

#[async_trait]
impl UploadIndex for DynamoStore {
    async fn reserve(&self, owner: &Owner, upload: &Upload) -> BackendResult<()> {
        let mut item = Item::from([
            ("pk".to_owned(), s(uploads_pk(owner))),
            ("sk".to_owned(), s(upload_sk(&upload.id))),
            ("id".to_owned(), s(upload.id.as_str())),
            ("name".to_owned(), s(&upload.name)),
            ("size".to_owned(), n(upload.size)),
            ("format".to_owned(), s(upload.format.as_str())),
            ("status".to_owned(), s(upload.status.as_str())),
            (TTL_ATTRIBUTE.to_owned(), n(upload.expires_at.timestamp())),
        ]);
        if let Some(error) = upload.status.error() {
            item.insert("error".to_owned(), s(error));
        }
        self.put_new(item).await
    }

    async fn get_upload(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Upload>> {
        let Some(item) = self.get_item(uploads_pk(owner), upload_sk(id)).await? else {
            return Ok(None);
        };
        let status =
            UploadStatus::from_parts(string(&item, "status")?, optional_string(&item, "error"))
                .ok_or_else(|| corrupt("status"))?;
        Ok(Some(Upload {
            id: id.clone(),
            name: string(&item, "name")?.to_owned(),
            size: number(&item, "size")?,
            format: Format::parse(string(&item, "format")?).ok_or_else(|| corrupt("format"))?,
            status,
            expires_at: DateTime::from_timestamp(number(&item, TTL_ATTRIBUTE)?, 0)
                .ok_or_else(|| corrupt(TTL_ATTRIBUTE))?,
        }))
    }

    async fn finish_upload(
        &self,
        owner: &Owner,
        id: &ImageId,
        status: &UploadStatus,
    ) -> BackendResult<()> {
        let mut request = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(uploads_pk(owner)))
            .key("sk", s(upload_sk(id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()));
        request = match status.error() {
            Some(error) => request
                .update_expression("SET #status = :status, #error = :error")
                .expression_attribute_names("#error", "error")
                .expression_attribute_values(":error", s(error)),
            None => request
                .update_expression("SET #status = :status REMOVE #error")
                .expression_attribute_names("#error", "error"),
        };
        request.send().await.map_err(sdk_error)?;
        Ok(())
    }
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn find(&self, hash: &str) -> BackendResult<Option<KeyRecord>> {
        let item = self.get_item(key_pk(hash), "KEY".to_owned()).await?;
        item.map(|item| key_record(hash, &item)).transpose()
    }

    async fn insert(&self, record: &KeyRecord) -> BackendResult<()> {
        let mut item = Item::from([
            ("pk".to_owned(), s(key_pk(&record.hash))),
            ("sk".to_owned(), s("KEY")),
            ("account".to_owned(), s(&record.owner.account)),
            ("stage".to_owned(), s(record.owner.stage.as_str())),
            ("active".to_owned(), AttributeValue::Bool(record.active)),
        ]);
        if let Some(created_at) = record.created_at {
            item.insert("created_at".to_owned(), n(created_at.timestamp()));
        }
        self.put_new(item).await?;
        // Keys are found by their hash alone; this marker lets an account be looked up without
        // a scan. Written after the key, so an account that has it always has a key.
        self.client
            .get()
            .put_item()
            .table_name(&self.table)
            .item("pk", s(account_pk(&record.owner.account)))
            .item("sk", s("ACCOUNT"))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }

    async fn account_exists(&self, account: &str) -> BackendResult<bool> {
        let marker = self
            .get_item(account_pk(account), "ACCOUNT".to_owned())
            .await?;
        Ok(marker.is_some())
    }

    /// A scan of the whole table for its key items: an operator's occasional command.
    async fn list(&self) -> BackendResult<Vec<KeyRecord>> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .get()
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :key")
            .expression_attribute_values(":key", s("KEY"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.try_next().await.map_err(sdk_error)? {
            let hash = string(&item, "pk")?
                .strip_prefix("KEY#")
                .ok_or_else(|| corrupt("pk"))?
                .to_owned();
            keys.push(key_record(&hash, &item)?);
        }
        keys.sort_by(|a, b| (a.created_at, &a.hash).cmp(&(b.created_at, &b.hash)));
        Ok(keys)
    }

    async fn revoke(&self, hash: &str) -> BackendResult<bool> {
        let revoked = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key_pk(hash)))
            .key("sk", s("KEY"))
            .update_expression("SET active = :no")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await;
        match revoked {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(sdk_error(error)),
        }
    }
}

fn key_record(hash: &str, item: &Item) -> BackendResult<KeyRecord> {
    let stage = Stage::parse(string(item, "stage")?).ok_or_else(|| corrupt("stage"))?;
    Ok(KeyRecord {
        hash: hash.to_owned(),
        owner: Owner {
            account: string(item, "account")?.to_owned(),
            stage,
        },
        active: matches!(item.get("active"), Some(AttributeValue::Bool(true))),
        created_at: number::<i64>(item, "created_at")
            .ok()
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
    })
}

#[async_trait]
impl RateLimiter for DynamoStore {
    /// One conditional counter per subject and window, so that every Lambda sees the same
    /// count; the TTL removes it once it can no longer be asked for.
    async fn admit(&self, subject: &str, window: Window, limit: u32) -> BackendResult<bool> {
        let (pk, sk) = rate_key(subject, window);
        let counted = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .update_expression("SET #count = if_not_exists(#count, :zero) + :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(window.needed_until()))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(error) if is_condition_failure(&error) => Ok(false),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn count(&self, subject: &str, window: Window) -> BackendResult<u32> {
        let (pk, sk) = rate_key(subject, window);
        let item = self.get_item(pk, sk).await?;
        item.map_or(Ok(0), |item| number(&item, "count"))
    }
}

fn rate_key(subject: &str, window: Window) -> (String, String) {
    (
        format!("RATE#{subject}"),
        format!("WINDOW#{}#{}", window.seconds, window.index),
    )
}

fn idempotency_pk(owner: &Owner) -> String {
    format!("IDEMPOTENCY#{}#{}", owner.account, owner.stage)
}

fn idempotency_sk(key: &str) -> String {
    format!("KEY#{key}")
}

fn idempotency_record(item: &Item) -> BackendResult<IdempotencyRecord> {
    let response = match item.get("response_status") {
        Some(AttributeValue::N(status)) => Some(StoredResponse {
            status: status.parse().map_err(|_| corrupt("response_status"))?,
            content_type: optional_string(item, "content_type"),
            body: match item.get("body") {
                Some(AttributeValue::B(body)) => body.clone().into_inner(),
                _ => Vec::new(),
            },
        }),
        _ => None,
    };
    Ok(IdempotencyRecord {
        fingerprint: string(item, "fingerprint")?.to_owned(),
        response,
    })
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn claim(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        expires_at: DateTime<Utc>,
        stale_after: std::time::Duration,
    ) -> BackendResult<Option<IdempotencyRecord>> {
        let now = Utc::now();
        let stale = now - chrono::Duration::from_std(stale_after).unwrap_or_default();
        // Expired records may linger until DynamoDB's TTL sweeps them: they count as absent.
        let claimed = self
            .client
            .get()
            .put_item()
            .table_name(&self.table)
            .item("pk", s(idempotency_pk(owner)))
            .item("sk", s(idempotency_sk(key)))
            .item("fingerprint", s(fingerprint))
            .item("started_at", n(now.timestamp_millis()))
            .item(TTL_ATTRIBUTE, n(expires_at.timestamp()))
            .condition_expression(
                "attribute_not_exists(pk) OR #ttl < :now \
                 OR (attribute_not_exists(response_status) AND started_at < :stale)",
            )
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":stale", n(stale.timestamp_millis()))
            .send()
            .await;
        match claimed {
            Ok(_) => Ok(None),
            Err(error) if is_condition_failure(&error) => {
                let item = self
                    .get_item(idempotency_pk(owner), idempotency_sk(key))
                    .await?;
                item.as_ref().map(idempotency_record).transpose()
            }
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> BackendResult<()> {
        let mut update = self
            .client
            .get()
            .update_item()
            .table_name(&self.table)
            .key("pk", s(idempotency_pk(owner)))
            .key("sk", s(idempotency_sk(key)))
            // Without it an update would create the item of a claim already released.
            .condition_expression(
                "attribute_exists(pk) AND fingerprint = :fingerprint \
                 AND attribute_not_exists(response_status)",
            )
            .expression_attribute_values(":fingerprint", s(fingerprint))
            .expression_attribute_values(":status", n(response.status))
            .expression_attribute_values(":body", AttributeValue::B(response.body.clone().into()));
        update = match &response.content_type {
            Some(content_type) => update
                .update_expression(
                    "SET response_status = :status, body = :body, content_type = :type",
                )
                .expression_attribute_values(":type", s(content_type)),
            None => update.update_expression("SET response_status = :status, body = :body"),
        };
        match update.send().await {
            Ok(_) => Ok(()),
            // The claim was released, expired or already completed: nothing to record.
            Err(error) if is_condition_failure(&error) => Ok(()),
            Err(error) => Err(sdk_error(error)),
        }
    }

    async fn release(&self, owner: &Owner, key: &str) -> BackendResult<()> {
        self.client
            .get()
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(idempotency_pk(owner)))
            .key("sk", s(idempotency_sk(key)))
            .send()
            .await
            .map_err(sdk_error)?;
        Ok(())
    }
}

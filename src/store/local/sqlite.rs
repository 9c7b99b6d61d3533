//! Image records, upload reservations and API keys in one SQLite database: ACID, embedded, nothing to install.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

use crate::domain::{
    BackendError, Format, Image, ImageId, KeyRecord, Owner, Stage, Upload, UploadStatus,
};
use crate::store::{
    BackendResult, IdempotencyRecord, IdempotencyStore, ImageIndex, KeyStore, Lease, ListStart,
    Locked, RateLimiter, StoredResponse, UploadIndex, Window,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS api_keys (
    hash       TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    stage      TEXT NOT NULL,
    active     INTEGER NOT NULL,
    created_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS images (
    account       TEXT NOT NULL,
    stage         TEXT NOT NULL,
    id            TEXT NOT NULL,
    name          TEXT NOT NULL,
    url           TEXT,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    format        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    lease_token   TEXT,
    lease_expires INTEGER,
    PRIMARY KEY (account, stage, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rate_limits (
    hash   TEXT NOT NULL,
    window INTEGER NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hash, window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    account      TEXT NOT NULL,
    stage        TEXT NOT NULL,
    key          TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    status       INTEGER,
    content_type TEXT,
    body         BLOB,
    started_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (account, stage, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    account    TEXT NOT NULL,
    stage      TEXT NOT NULL,
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL,
    format     TEXT NOT NULL,
    status     TEXT NOT NULL,
    error      TEXT,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (account, stage, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS idempotency_expiry ON idempotency (expires_at);
CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expires_at);
";

const IMAGE_COLUMNS: &str = "id, name, url, width, height, format, size, created_at";

pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    pub fn open(path: &Path) -> BackendResult<Self> {
        let connection = Connection::open(path).map_err(BackendError::failed)?;
        // WAL lets `imgforge keys create` write while a server reads; FULL makes every commit
        // durable before we answer.
        connection
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;",
            )
            .and_then(|()| connection.execute_batch(SCHEMA))
            .and_then(|()| add_key_creation_times(&connection))
            .map_err(BackendError::failed)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Whether any key exists: a new store gets its first key from `imgforge serve`.
    pub async fn has_keys(&self) -> BackendResult<bool> {
        self.call(|connection| {
            connection
                .query_row("SELECT EXISTS (SELECT 1 FROM api_keys)", [], |row| {
                    row.get(0)
                })
                .map_err(sql_error)
        })
        .await
    }

    /// Runs `work` on the connection off the async threads.
    async fn call<T, F>(&self, work: F) -> BackendResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, BackendError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            work(&mut connection)
        })
        .await
        .map_err(BackendError::failed)?
    }
}

fn sql_error(error: rusqlite::Error) -> BackendError {
    match error.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation) => BackendError::AlreadyExists,
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            BackendError::Unavailable(Box::new(error))
        }
        _ => BackendError::failed(error),
    }
}

fn image_from_row(row: &Row<'_>) -> rusqlite::Result<Image> {
    let invalid = |column: usize, what: String| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, what.into())
    };
    let id: String = row.get(0)?;
    let format: String = row.get(5)?;
    let size: i64 = row.get(6)?;
    let created_ms: i64 = row.get(7)?;
    Ok(Image {
        id: ImageId::parse(&id).ok_or_else(|| invalid(0, format!("bad image id {id}")))?,
        name: row.get(1)?,
        url: row.get(2)?,
        width: row.get(3)?,
        height: row.get(4)?,
        format: Format::parse(&format).ok_or_else(|| invalid(5, format!("bad format {format}")))?,
        size: u64::try_from(size).map_err(|_| invalid(6, format!("bad size {size}")))?,
        created_at: DateTime::<Utc>::from_timestamp_millis(created_ms)
            .ok_or_else(|| invalid(7, format!("bad timestamp {created_ms}")))?,
    })
}

fn select_image(
    connection: &Connection,
    owner: &Owner,
    id: &ImageId,
) -> rusqlite::Result<Option<Image>> {
    connection
        .query_row(
            &format!(
                "SELECT {IMAGE_COLUMNS} FROM images WHERE account = ?1 AND stage = ?2 AND id = ?3"
            ),
            params![owner.account, owner.stage.as_str(), id.as_str()],
            image_from_row,
        )
        .optional()
}

#[async_trait]
impl ImageIndex for SqliteStore {
    async fn insert(&self, owner: &Owner, image: &Image) -> BackendResult<()> {
        let (owner, image) = (owner.clone(), image.clone());
        self.call(move |connection| {
            connection
                .execute(
                    "INSERT INTO images (account, stage, id, name, url, width, height, format, \
                     size, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        image.id.as_str(),
                        image.name,
                        image.url,
                        image.width,
                        image.height,
                        image.format.as_str(),
                        i64::try_from(image.size).map_err(BackendError::failed)?,
                        image.created_at.timestamp_millis(),
                    ],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }

    async fn get(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Image>> {
        let (owner, id) = (owner.clone(), id.clone());
        self.call(move |connection| select_image(connection, &owner, &id).map_err(sql_error))
            .await
    }

    async fn list(
        &self,
        owner: &Owner,
        start: ListStart<'_>,
        limit: usize,
    ) -> BackendResult<Vec<Image>> {
        let (condition, order, cursor) = match start {
            ListStart::Newest => ("", "DESC", None),
            ListStart::AtOrOlderThan(id) => ("AND id <= ?3", "DESC", Some(id.to_string())),
            ListStart::NewerThan(id) => ("AND id > ?3", "ASC", Some(id.to_string())),
        };
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM images WHERE account = ?1 AND stage = ?2 {condition} \
             ORDER BY id {order} LIMIT ?4"
        );
        let owner = owner.clone();
        self.call(move |connection| {
            let mut statement = connection.prepare_cached(&sql).map_err(sql_error)?;
            let rows = statement
                .query_map(
                    params![owner.account, owner.stage.as_str(), cursor, limit as i64],
                    image_from_row,
                )
                .map_err(sql_error)?;
            rows.collect::<Result<_, _>>().map_err(sql_error)
        })
        .await
    }

    async fn lock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<Locked> {
        let (owner, id, lease) = (owner.clone(), id.clone(), lease.clone());
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(sql_error)?;
            let taken = transaction
                .execute(
                    "UPDATE images SET lease_token = ?4, lease_expires = ?5 \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3 \
                     AND (lease_token IS NULL OR lease_expires < ?6)",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        id.as_str(),
                        lease.token,
                        lease.expires_at.timestamp_millis(),
                        Utc::now().timestamp_millis(),
                    ],
                )
                .map_err(sql_error)?;
            let image = select_image(&transaction, &owner, &id).map_err(sql_error)?;
            transaction.commit().map_err(sql_error)?;
            Ok(match (taken, image) {
                (1, Some(image)) => Locked::Acquired(image),
                (_, Some(_)) => Locked::Busy,
                (_, None) => Locked::Missing,
            })
        })
        .await
    }

    async fn set_url(
        &self,
        owner: &Owner,
        id: &ImageId,
        lease: &Lease,
        url: Option<&str>,
    ) -> BackendResult<Image> {
        let (owner, id) = (owner.clone(), id.clone());
        let (token, url) = (lease.token.clone(), url.map(str::to_owned));
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(sql_error)?;
            let updated = transaction
                .execute(
                    "UPDATE images SET url = ?5 \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3 AND lease_token = ?4",
                    params![owner.account, owner.stage.as_str(), id.as_str(), token, url],
                )
                .map_err(sql_error)?;
            let image = select_image(&transaction, &owner, &id).map_err(sql_error)?;
            transaction.commit().map_err(sql_error)?;
            match (updated, image) {
                (1, Some(image)) => Ok(image),
                _ => Err(BackendError::LeaseLost),
            }
        })
        .await
    }

    async fn unlock(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()> {
        let (owner, id, token) = (owner.clone(), id.clone(), lease.token.clone());
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE images SET lease_token = NULL, lease_expires = NULL \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3 AND lease_token = ?4",
                    params![owner.account, owner.stage.as_str(), id.as_str(), token],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }

    async fn delete(&self, owner: &Owner, id: &ImageId, lease: &Lease) -> BackendResult<()> {
        let (owner, id, token) = (owner.clone(), id.clone(), lease.token.clone());
        self.call(move |connection| {
            let deleted = connection
                .execute(
                    "DELETE FROM images \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3 AND lease_token = ?4",
                    params![owner.account, owner.stage.as_str(), id.as_str(), token],
                )
                .map_err(sql_error)?;
            if deleted == 1 {
                Ok(())
            } else {
                Err(BackendError::LeaseLost)
            }
        })
        .await
    }
}

/// Stores made before keys kept their creation time get the column (empty for their keys).
fn add_key_creation_times(connection: &Connection) -> rusqlite::Result<()> {
    let has_column: bool = connection.query_row(
        "SELECT EXISTS (SELECT 1 FROM pragma_table_info('api_keys') WHERE name = 'created_at')",
        [],
        |row| row.get(0),
    )?;
    if !has_column {
        connection.execute_batch("ALTER TABLE api_keys ADD COLUMN created_at INTEGER")?;
    }
    Ok(())
}

fn key_record(row: &Row) -> rusqlite::Result<KeyRecord> {
    let stage: String = row.get("stage")?;
    let stage = Stage::parse(&stage).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("bad stage {stage}").into(),
        )
    })?;
    Ok(KeyRecord {
        hash: row.get("hash")?,
        owner: Owner {
            account: row.get("account")?,
            stage,
        },
        active: row.get("active")?,
        created_at: row
            .get::<_, Option<i64>>("created_at")?
            .and_then(|seconds| DateTime::from_timestamp(seconds, 0)),
    })
}

const KEY_COLUMNS: &str = "hash, account, stage, active, created_at";

#[async_trait]
impl KeyStore for SqliteStore {
    async fn find(&self, hash: &str) -> BackendResult<Option<KeyRecord>> {
        let hash = hash.to_owned();
        self.call(move |connection| {
            connection
                .query_row(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = ?1"),
                    params![hash],
                    key_record,
                )
                .optional()
                .map_err(sql_error)
        })
        .await
    }

    async fn insert(&self, record: &KeyRecord) -> BackendResult<()> {
        let record = record.clone();
        self.call(move |connection| {
            connection
                .execute(
                    &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                    params![
                        record.hash,
                        record.owner.account,
                        record.owner.stage.as_str(),
                        record.active,
                        record.created_at.map(|at| at.timestamp())
                    ],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }

    async fn account_exists(&self, account: &str) -> BackendResult<bool> {
        let account = account.to_owned();
        self.call(move |connection| {
            connection
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM api_keys WHERE account = ?1)",
                    params![account],
                    |row| row.get(0),
                )
                .map_err(sql_error)
        })
        .await
    }

    async fn list(&self) -> BackendResult<Vec<KeyRecord>> {
        self.call(move |connection| {
            let mut statement = connection
                .prepare(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, hash"
                ))
                .map_err(sql_error)?;
            statement
                .query_map([], key_record)
                .and_then(Iterator::collect)
                .map_err(sql_error)
        })
        .await
    }

    async fn revoke(&self, hash: &str) -> BackendResult<bool> {
        let hash = hash.to_owned();
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE api_keys SET active = 0 WHERE hash = ?1",
                    params![hash],
                )
                .map(|changed| changed == 1)
                .map_err(sql_error)
        })
        .await
    }
}

#[async_trait]
impl UploadIndex for SqliteStore {
    async fn reserve(&self, owner: &Owner, upload: &Upload) -> BackendResult<()> {
        let (owner, upload) = (owner.clone(), upload.clone());
        self.call(move |connection| {
            // Expired reservations go as new ones come, as DynamoDB's TTL removes them there.
            connection
                .execute(
                    "DELETE FROM uploads WHERE expires_at < ?1",
                    params![Utc::now().timestamp_millis()],
                )
                .map_err(sql_error)?;
            connection
                .execute(
                    "INSERT INTO uploads (account, stage, id, name, size, format, status, error, \
                     expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        upload.id.as_str(),
                        upload.name,
                        i64::try_from(upload.size).map_err(BackendError::failed)?,
                        upload.format.as_str(),
                        upload.status.as_str(),
                        upload.status.error(),
                        upload.expires_at.timestamp_millis(),
                    ],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }

    async fn get_upload(&self, owner: &Owner, id: &ImageId) -> BackendResult<Option<Upload>> {
        let (owner, id) = (owner.clone(), id.clone());
        self.call(move |connection| {
            let row = connection
                .query_row(
                    "SELECT name, size, format, status, error, expires_at FROM uploads \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3",
                    params![owner.account, owner.stage.as_str(), id.as_str()],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, Option<String>>(4)?,
                            row.get::<_, i64>(5)?,
                        ))
                    },
                )
                .optional()
                .map_err(sql_error)?;
            let Some((name, size, format, status, error, expires_ms)) = row else {
                return Ok(None);
            };
            let corrupt = || BackendError::failed(format!("corrupt upload record {id}"));
            Ok(Some(Upload {
                id: id.clone(),
                name,
                size: u64::try_from(size).map_err(|_| corrupt())?,
                format: Format::parse(&format).ok_or_else(corrupt)?,
                status: UploadStatus::from_parts(&status, error).ok_or_else(corrupt)?,
                expires_at: DateTime::from_timestamp_millis(expires_ms).ok_or_else(corrupt)?,
            }))
        })
        .await
    }

    async fn finish_upload(
        &self,
        owner: &Owner,
        id: &ImageId,
        status: &UploadStatus,
    ) -> BackendResult<()> {
        let (owner, id, status) = (owner.clone(), id.clone(), status.clone());
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE uploads SET status = ?4, error = ?5 \
                     WHERE account = ?1 AND stage = ?2 AND id = ?3",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        id.as_str(),
                        status.as_str(),
                        status.error()
                    ],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }
}

#[async_trait]
impl RateLimiter for SqliteStore {
    async fn admit(&self, subject: &str, window: Window, limit: u32) -> BackendResult<bool> {
        let subject = rate_subject(subject, window);
        self.call(move |connection| {
            // Windows before the previous one are of no more use.
            connection
                .execute(
                    "DELETE FROM rate_limits WHERE hash = ?1 AND window < ?2 - 1",
                    params![subject, window.index],
                )
                .map_err(sql_error)?;
            let counted = connection
                .execute(
                    "INSERT INTO rate_limits (hash, window, count) VALUES (?1, ?2, 1) \
                     ON CONFLICT (hash, window) DO UPDATE SET count = count + 1 \
                     WHERE count < ?3",
                    params![subject, window.index, limit],
                )
                .map_err(sql_error)?;
            Ok(counted == 1)
        })
        .await
    }

    async fn count(&self, subject: &str, window: Window) -> BackendResult<u32> {
        let subject = rate_subject(subject, window);
        self.call(move |connection| {
            connection
                .query_row(
                    "SELECT count FROM rate_limits WHERE hash = ?1 AND window = ?2",
                    params![subject, window.index],
                    |row| row.get(0),
                )
                .optional()
                .map(Option::unwrap_or_default)
                .map_err(sql_error)
        })
        .await
    }
}

/// Counters of windows of different lengths are kept apart.
fn rate_subject(subject: &str, window: Window) -> String {
    format!("{subject}#{}", window.seconds)
}

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        expires_at: DateTime<Utc>,
        stale_after: std::time::Duration,
    ) -> BackendResult<Option<IdempotencyRecord>> {
        let (owner, key, fingerprint) = (owner.clone(), key.to_owned(), fingerprint.to_owned());
        let stale_ms = i64::try_from(stale_after.as_millis()).unwrap_or(i64::MAX);
        self.call(move |connection| {
            let transaction = connection.transaction().map_err(sql_error)?;
            let now = Utc::now().timestamp_millis();
            let held = transaction
                .query_row(
                    "SELECT fingerprint, status, content_type, body FROM idempotency \
                     WHERE account = ?1 AND stage = ?2 AND key = ?3 AND expires_at >= ?4 \
                     AND (status IS NOT NULL OR started_at >= ?5)",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        key,
                        now,
                        now - stale_ms
                    ],
                    |row| {
                        let status: Option<u16> = row.get(1)?;
                        Ok(IdempotencyRecord {
                            fingerprint: row.get(0)?,
                            response: status.map(|status| StoredResponse {
                                status,
                                content_type: row.get(2).unwrap_or_default(),
                                body: row.get(3).unwrap_or_default(),
                            }),
                        })
                    },
                )
                .optional()
                .map_err(sql_error)?;
            if held.is_none() {
                // Expired keys go as new ones are claimed, as DynamoDB's TTL removes them there.
                transaction
                    .execute(
                        "DELETE FROM idempotency WHERE expires_at < ?1",
                        params![now],
                    )
                    .map_err(sql_error)?;
                transaction
                    .execute(
                        "INSERT OR REPLACE INTO idempotency (account, stage, key, fingerprint, \
                         started_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![
                            owner.account,
                            owner.stage.as_str(),
                            key,
                            fingerprint,
                            now,
                            expires_at.timestamp_millis()
                        ],
                    )
                    .map_err(sql_error)?;
            }
            transaction.commit().map_err(sql_error)?;
            Ok(held)
        })
        .await
    }

    async fn complete(
        &self,
        owner: &Owner,
        key: &str,
        fingerprint: &str,
        response: &StoredResponse,
    ) -> BackendResult<()> {
        let (owner, key, fingerprint, response) = (
            owner.clone(),
            key.to_owned(),
            fingerprint.to_owned(),
            response.clone(),
        );
        self.call(move |connection| {
            connection
                .execute(
                    "UPDATE idempotency SET status = ?4, content_type = ?5, body = ?6 \
                     WHERE account = ?1 AND stage = ?2 AND key = ?3 AND fingerprint = ?7 \
                     AND status IS NULL",
                    params![
                        owner.account,
                        owner.stage.as_str(),
                        key,
                        response.status,
                        response.content_type,
                        response.body,
                        fingerprint
                    ],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }

    async fn release(&self, owner: &Owner, key: &str) -> BackendResult<()> {
        let (owner, key) = (owner.clone(), key.to_owned());
        self.call(move |connection| {
            connection
                .execute(
                    "DELETE FROM idempotency WHERE account = ?1 AND stage = ?2 AND key = ?3",
                    params![owner.account, owner.stage.as_str(), key],
                )
                .map(drop)
                .map_err(sql_error)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn rows(store: &SqliteStore, table: &'static str) -> i64 {
        store
            .call(move |connection| {
                connection
                    .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
                        row.get(0)
                    })
                    .map_err(sql_error)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn expired_uploads_and_idempotency_keys_are_pruned_as_new_ones_come() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("db")).unwrap();
        let owner = Owner {
            account: "acct_prune".into(),
            stage: Stage::Live,
        };
        let upload = |expires_at| Upload {
            id: ImageId::generate(Utc::now()),
            name: "n".into(),
            size: 1,
            format: Format::Png,
            status: UploadStatus::Pending,
            expires_at,
        };
        let past = Utc::now() - chrono::Duration::seconds(1);
        let future = Utc::now() + chrono::Duration::hours(1);
        store.reserve(&owner, &upload(past)).await.unwrap();
        store.reserve(&owner, &upload(future)).await.unwrap();
        assert_eq!(rows(&store, "uploads").await, 1, "the expired one is gone");

        let patience = std::time::Duration::from_secs(60);
        store
            .claim(&owner, "old", "f", past, patience)
            .await
            .unwrap();
        store
            .claim(&owner, "new", "f", future, patience)
            .await
            .unwrap();
        assert_eq!(
            rows(&store, "idempotency").await,
            1,
            "the expired one is gone"
        );
    }
}

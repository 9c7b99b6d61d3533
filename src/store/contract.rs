//! What every adapter of the ports must do, written once and run against each backend: the
//! embedded one in unit tests, the AWS one against the emulator.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use super::layout::{original_key, public_key};
use super::{
    BlobStore, IdempotencyRecord, IdempotencyStore, ImageIndex, KeyStore, Lease, ListStart, Locked,
    Ports, Publisher, RateLimiter, StoredResponse, UploadIndex, Window,
};
use crate::domain::{
    BackendError, Format, Image, ImageId, KeyRecord, Owner, Stage, Upload, UploadStatus,
    new_account_id,
};

/// Every contract, over one backend's ports.
pub async fn ports(ports: &Ports) {
    image_index(ports.images.as_ref()).await;
    upload_index(ports.uploads.as_ref()).await;
    key_store(ports.keys.as_ref()).await;
    rate_limiter(ports.rate_limiter.as_ref()).await;
    idempotency_store(ports.idempotency.as_ref()).await;
    blobs_and_publisher(ports.blobs.as_ref(), ports.publisher.as_ref()).await;
}

fn new_owner(stage: Stage) -> Owner {
    Owner {
        account: new_account_id(),
        stage,
    }
}

fn image(minutes_ago: i64) -> Image {
    let created_at = Utc::now() - Duration::minutes(minutes_ago);
    Image {
        id: ImageId::generate(created_at),
        name: format!("made {minutes_ago} min ago"),
        url: None,
        width: 3,
        height: 2,
        format: Format::Png,
        size: 42,
        // Stores keep milliseconds, as the API shows them.
        created_at: DateTime::from_timestamp_millis(created_at.timestamp_millis())
            .expect("now is in range"),
    }
}

fn lease() -> Lease {
    Lease {
        token: format!("{:032x}", rand::random::<u128>()),
        expires_at: Utc::now() + Duration::seconds(30),
    }
}

fn ids(images: &[Image]) -> Vec<&ImageId> {
    images.iter().map(|image| &image.id).collect()
}

/// Records: scoped by owner, listed in id order from a cursor, changed only under a lease.
pub async fn image_index(index: &dyn ImageIndex) {
    let owner = new_owner(Stage::Test);
    let same_account_live = Owner {
        stage: Stage::Live,
        ..owner.clone()
    };
    let (oldest, middle, newest) = (image(3), image(2), image(1));
    for image in [&middle, &oldest, &newest] {
        index.insert(&owner, image).await.unwrap();
    }
    assert!(matches!(
        index.insert(&owner, &middle).await,
        Err(BackendError::AlreadyExists)
    ));

    assert_eq!(
        index.get(&owner, &middle.id).await.unwrap().as_ref(),
        Some(&middle)
    );
    assert_eq!(
        index.get(&same_account_live, &middle.id).await.unwrap(),
        None
    );
    assert!(
        index
            .list(&same_account_live, ListStart::Newest, 10)
            .await
            .unwrap()
            .is_empty()
    );

    let all = index.list(&owner, ListStart::Newest, 10).await.unwrap();
    assert_eq!(ids(&all), [&newest.id, &middle.id, &oldest.id]);
    let first = index.list(&owner, ListStart::Newest, 2).await.unwrap();
    assert_eq!(ids(&first), [&newest.id, &middle.id]);
    let from_middle = index
        .list(&owner, ListStart::AtOrOlderThan(&middle.id), 10)
        .await
        .unwrap();
    assert_eq!(ids(&from_middle), [&middle.id, &oldest.id]);
    let newer = index
        .list(&owner, ListStart::NewerThan(&oldest.id), 10)
        .await
        .unwrap();
    assert_eq!(ids(&newer), [&middle.id, &newest.id]);

    let held = lease();
    assert!(matches!(
        index.lock(&owner, &middle.id, &held).await.unwrap(),
        Locked::Acquired(found) if found == middle
    ));
    assert!(matches!(
        index.lock(&owner, &middle.id, &lease()).await.unwrap(),
        Locked::Busy
    ));
    assert!(matches!(
        index
            .lock(&same_account_live, &middle.id, &lease())
            .await
            .unwrap(),
        Locked::Missing
    ));
    assert!(matches!(
        index
            .set_url(&owner, &middle.id, &lease(), Some("https://x/y"))
            .await,
        Err(BackendError::LeaseLost)
    ));
    let published = index
        .set_url(
            &owner,
            &middle.id,
            &held,
            Some("https://cdn.example/images/x"),
        )
        .await
        .unwrap();
    assert_eq!(
        published.url.as_deref(),
        Some("https://cdn.example/images/x")
    );
    assert_eq!(
        index.get(&owner, &middle.id).await.unwrap(),
        Some(published)
    );
    index.unlock(&owner, &middle.id, &held).await.unwrap();

    let expired = Lease {
        expires_at: Utc::now() - Duration::seconds(1),
        ..lease()
    };
    assert!(matches!(
        index.lock(&owner, &oldest.id, &expired).await.unwrap(),
        Locked::Acquired(_)
    ));
    let successor = lease();
    assert!(
        matches!(
            index.lock(&owner, &oldest.id, &successor).await.unwrap(),
            Locked::Acquired(_)
        ),
        "an expired lease can be taken over"
    );
    assert!(matches!(
        index.delete(&owner, &oldest.id, &expired).await,
        Err(BackendError::LeaseLost)
    ));
    index.delete(&owner, &oldest.id, &successor).await.unwrap();
    assert_eq!(index.get(&owner, &oldest.id).await.unwrap(), None);
    assert!(matches!(
        index.lock(&owner, &oldest.id, &lease()).await.unwrap(),
        Locked::Missing
    ));
}

/// Keys: found by hash, with their owner, status and creation time; listed; revoked for good.
pub async fn key_store(keys: &dyn KeyStore) {
    let record = KeyRecord {
        hash: format!("{:064x}", rand::random::<u128>()),
        owner: new_owner(Stage::Live),
        active: true,
        created_at: DateTime::from_timestamp(Utc::now().timestamp(), 0),
    };
    assert_eq!(keys.find(&record.hash).await.unwrap(), None);
    assert!(!keys.account_exists(&record.owner.account).await.unwrap());
    keys.insert(&record).await.unwrap();
    assert!(keys.account_exists(&record.owner.account).await.unwrap());
    assert!(
        !keys
            .account_exists(&new_owner(Stage::Live).account)
            .await
            .unwrap()
    );
    assert_eq!(keys.find(&record.hash).await.unwrap(), Some(record.clone()));
    assert!(keys.list().await.unwrap().contains(&record));

    assert!(keys.revoke(&record.hash).await.unwrap());
    let revoked = keys.find(&record.hash).await.unwrap().unwrap();
    assert!(!revoked.active);
    assert!(keys.list().await.unwrap().contains(&revoked));
    let unknown = format!("{:064x}", rand::random::<u128>());
    assert!(!keys.revoke(&unknown).await.unwrap());
    assert_eq!(
        keys.find(&unknown).await.unwrap(),
        None,
        "revoking creates nothing"
    );
}

/// Upload reservations: scoped by owner, and their outcome recorded.
pub async fn upload_index(uploads: &dyn UploadIndex) {
    let owner = new_owner(Stage::Live);
    let stranger = new_owner(Stage::Live);
    let upload = Upload {
        id: ImageId::generate(Utc::now()),
        name: "big one".into(),
        size: 7 << 20,
        format: Format::Jpeg,
        status: UploadStatus::Pending,
        expires_at: DateTime::from_timestamp(Utc::now().timestamp() + 3600, 0).expect("in range"),
    };
    uploads.reserve(&owner, &upload).await.unwrap();
    assert_eq!(
        uploads
            .get_upload(&owner, &upload.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&upload)
    );
    assert_eq!(
        uploads.get_upload(&stranger, &upload.id).await.unwrap(),
        None
    );
    let failed = UploadStatus::Failed("image must be a JPEG, PNG or WebP image".into());
    uploads
        .finish_upload(&owner, &upload.id, &failed)
        .await
        .unwrap();
    let found = uploads
        .get_upload(&owner, &upload.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, failed);
    uploads
        .finish_upload(&owner, &upload.id, &UploadStatus::Ready)
        .await
        .unwrap();
    let found = uploads
        .get_upload(&owner, &upload.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, UploadStatus::Ready);
}

/// Blobs and the publisher over them: the public copy appears and disappears.
pub async fn blobs_and_publisher(blobs: &dyn BlobStore, publisher: &dyn Publisher) {
    let owner = new_owner(Stage::Test);
    let id = ImageId::generate(Utc::now());
    let key = original_key(&owner, &id);
    assert_eq!(blobs.get(&key).await.unwrap(), None);
    let bytes = Bytes::from_static(b"\x89PNG\r\n\x1a\nnot really");
    blobs.put(&key, bytes.clone(), Format::Png).await.unwrap();
    assert_eq!(blobs.get(&key).await.unwrap(), Some(bytes.clone()));

    let copy = format!("{key}-copy");
    blobs.copy(&key, &copy, Format::Png).await.unwrap();
    assert_eq!(blobs.get(&copy).await.unwrap(), Some(bytes.clone()));
    blobs.delete(&copy).await.unwrap();

    let put = blobs
        .presign_put(&key, Format::Png, 1234, std::time::Duration::from_secs(900))
        .await
        .unwrap();
    assert!(put.url.starts_with("http"), "{}", put.url);
    let header = |name: &str| {
        put.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    assert_eq!(header("content-type"), Some("image/png"));
    assert_eq!(header("content-length"), Some("1234"));

    assert!(!blobs.exists(&public_key(&id)).await.unwrap());
    let url = publisher.publish(&key, &id, Format::Png).await.unwrap();
    assert!(blobs.exists(&public_key(&id)).await.unwrap());
    assert!(url.ends_with(&format!("/images/{id}")), "{url}");
    assert_eq!(
        blobs.get(&public_key(&id)).await.unwrap(),
        Some(bytes.clone())
    );
    publisher.unpublish(&id).await.unwrap();
    assert_eq!(blobs.get(&public_key(&id)).await.unwrap(), None);
    publisher.unpublish(&id).await.unwrap();

    blobs.delete(&key).await.unwrap();
    blobs.delete(&key).await.unwrap();
    assert_eq!(blobs.get(&key).await.unwrap(), None);
}

/// Rate counters: per subject and window, refusing past the limit without counting, the
/// previous window's count still readable.
pub async fn rate_limiter(limiter: &dyn RateLimiter) {
    let key = format!("{:064x}", rand::random::<u128>());
    let other = format!("{:064x}", rand::random::<u128>());
    let minute = Window::at(Utc::now().timestamp(), 60);
    for _ in 0..3 {
        assert!(limiter.admit(&key, minute, 3).await.unwrap());
    }
    assert!(
        !limiter.admit(&key, minute, 3).await.unwrap(),
        "the fourth is refused"
    );
    assert!(
        !limiter.admit(&key, minute, 3).await.unwrap(),
        "refusals are not counted up"
    );
    assert!(
        limiter.admit(&other, minute, 3).await.unwrap(),
        "subjects count apart"
    );
    assert_eq!(limiter.count(&key, minute).await.unwrap(), 3);
    assert_eq!(limiter.count(&other, minute).await.unwrap(), 1);
    let next = Window {
        index: minute.index + 1,
        ..minute
    };
    assert!(
        limiter.admit(&key, next, 3).await.unwrap(),
        "a new window starts afresh"
    );
    assert_eq!(
        limiter.count(&key, next.previous()).await.unwrap(),
        3,
        "the previous window is remembered"
    );
    assert_eq!(limiter.count(&key, minute.previous()).await.unwrap(), 0);
    let hour = Window::at(Utc::now().timestamp(), 3600);
    assert_eq!(
        limiter.count(&key, hour).await.unwrap(),
        0,
        "windows of other lengths count apart"
    );
}

/// Idempotency keys: claimed once per owner, replayed once complete, released on our failures,
/// and forgotten when they expire or their request died.
pub async fn idempotency_store(store: &dyn IdempotencyStore) {
    let owner = new_owner(Stage::Live);
    let later = Utc::now() + Duration::hours(1);
    let patient = std::time::Duration::from_secs(60);
    let claim = |key: &'static str, expires_at, stale| {
        let owner = owner.clone();
        async move {
            store
                .claim(&owner, key, "fingerprint-1", expires_at, stale)
                .await
                .unwrap()
        }
    };

    assert_eq!(
        claim("k1", later, patient).await,
        None,
        "a new key is claimed"
    );
    let running = IdempotencyRecord {
        fingerprint: "fingerprint-1".into(),
        response: None,
    };
    assert_eq!(claim("k1", later, patient).await, Some(running));
    let response = StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: br#"{"id":"image_x"}"#.to_vec(),
    };
    let other = StoredResponse {
        status: 422,
        content_type: None,
        body: b"other".to_vec(),
    };
    store
        .complete(&owner, "k1", "fingerprint-2", &other)
        .await
        .unwrap();
    assert_eq!(
        claim("k1", later, patient).await.unwrap().response,
        None,
        "only the claim's own request completes it"
    );
    store
        .complete(&owner, "k1", "fingerprint-1", &response)
        .await
        .unwrap();
    store
        .complete(&owner, "k1", "fingerprint-1", &other)
        .await
        .unwrap();
    let done = claim("k1", later, patient).await.unwrap();
    assert_eq!(
        done.response,
        Some(response.clone()),
        "the first response stays"
    );
    let stranger = new_owner(Stage::Live);
    let theirs = store
        .claim(&stranger, "k1", "other", later, patient)
        .await
        .unwrap();
    assert_eq!(theirs, None, "keys are per owner");

    assert_eq!(claim("k2", later, patient).await, None);
    store.release(&owner, "k2").await.unwrap();
    store
        .complete(&owner, "k2", "fingerprint-1", &response)
        .await
        .unwrap();
    assert_eq!(
        claim("k2", later, patient).await,
        None,
        "a released key is claimed afresh, never revived by a late completion"
    );

    assert_eq!(claim("k3", later, patient).await, None);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let impatient = std::time::Duration::from_millis(10);
    assert_eq!(
        claim("k3", later, impatient).await,
        None,
        "a stale claim is taken over"
    );

    let past = Utc::now() - Duration::seconds(5);
    assert_eq!(claim("k4", past, patient).await, None);
    assert_eq!(
        claim("k4", later, patient).await,
        None,
        "an expired record is gone"
    );
}

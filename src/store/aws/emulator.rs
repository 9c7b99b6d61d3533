//! Creating the stack's bucket, table and distribution in an AWS emulator (moto), so that the
//! AWS backend can run and be tested on one machine. Never against a real account.

use std::net::IpAddr;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_cloudfront::types::{
    DefaultCacheBehavior, DistributionConfig, Origin, Origins, S3OriginConfig, ViewerProtocolPolicy,
};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

use super::dynamo::TTL_ATTRIBUTE;
use super::{is_unreachable, s3_client};
use crate::store::UploadHook;
use crate::store::layout::UPLOADS_PREFIX;

/// CloudFront's managed "CachingOptimized" policy, the one the SAM template uses too.
const CACHING_OPTIMIZED_POLICY: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The distribution the emulator made, which the environment must name from then on.
pub struct Distribution {
    pub id: String,
    pub domain: String,
}

/// Whether the SDK's endpoint is on this machine; anything else may be a real account.
pub fn endpoint_is_loopback(sdk: &SdkConfig) -> bool {
    let Some(endpoint) = sdk.endpoint_url() else {
        return false;
    };
    let authority = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// How often the emulator's bucket is looked at for direct uploads.
const UPLOAD_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// moto sends no S3 events: in the emulator, direct uploads are found by listing `uploads/` and
/// handed to `ingest`, as the event would hand them to the ingest Lambda. Runs until the process
/// ends; a failed ingest is retried on the next look, as Lambda retries an event.
pub fn deliver_uploads(s3: aws_sdk_s3::Client, bucket: String, ingest: UploadHook) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPLOAD_POLL_INTERVAL);
        loop {
            tick.tick().await;
            let listed = s3
                .list_objects_v2()
                .bucket(&bucket)
                .prefix(format!("{UPLOADS_PREFIX}/"))
                .send()
                .await;
            let objects = match listed {
                Ok(listed) => listed.contents.unwrap_or_default(),
                Err(error) => {
                    tracing::warn!(error = %DisplayErrorContext(&error), "listing direct uploads failed");
                    continue;
                }
            };
            for key in objects.into_iter().filter_map(|object| object.key) {
                if let Err(error) = ingest(key.clone()).await {
                    tracing::warn!(%key, %error, "ingesting a direct upload failed");
                }
            }
        }
    });
}

/// Creates (or finds) the bucket, the table and a distribution for the bucket. Idempotent.
pub async fn init(sdk: &SdkConfig, bucket: &str, table: &str) -> Result<Distribution, Failure> {
    if !endpoint_is_loopback(sdk) {
        return Err(
            "refusing to run: AWS_ENDPOINT_URL must point at an emulator on a loopback \
                    address (e.g. http://127.0.0.1:5000)"
                .into(),
        );
    }
    create_bucket(sdk, bucket).await?;
    create_table(sdk, table).await?;
    distribution(sdk, bucket).await
}

async fn create_bucket(sdk: &SdkConfig, bucket: &str) -> Result<(), Failure> {
    match s3_client(sdk).create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(error)
            if matches!(
                error.code(),
                Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")
            ) =>
        {
            Ok(())
        }
        // The first call: if the emulator is not there, say so and how to start one.
        Err(error) if is_unreachable(&error) => Err(format!(
            "could not reach {}: is it running? Start one with `.venv/bin/moto_server -p 5000` \
                 (`make test` or `make emulator` installs it), or use `make emulator`, which \
                 starts its own ({})",
            sdk.endpoint_url().unwrap_or_default(),
            DisplayErrorContext(&error)
        )
        .into()),
        Err(error) => Err(error.into()),
    }
}

/// Creates (or finds) the table, with its key schema and TTL, in `sdk`'s region.
pub async fn create_table(sdk: &SdkConfig, table: &str) -> Result<(), Failure> {
    let dynamo = aws_sdk_dynamodb::Client::new(sdk);
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    let created = dynamo
        .create_table()
        .table_name(table)
        .attribute_definitions(attribute("pk")?)
        .attribute_definitions(attribute("sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match created {
        Err(error) if error.code() == Some("ResourceInUseException") => return Ok(()),
        other => other?,
    };
    dynamo
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()?,
        )
        .send()
        .await?;
    Ok(())
}

async fn distribution(sdk: &SdkConfig, bucket: &str) -> Result<Distribution, Failure> {
    let cloudfront = aws_sdk_cloudfront::Client::new(sdk);
    let comment = format!("imgforge {bucket}");
    let listed = cloudfront.list_distributions().send().await?;
    let existing = listed
        .distribution_list()
        .map(|list| list.items())
        .unwrap_or_default()
        .iter()
        .find(|summary| summary.comment() == comment);
    if let Some(found) = existing {
        return Ok(Distribution {
            id: found.id().to_owned(),
            domain: found.domain_name().to_owned(),
        });
    }
    let origin_id = "images";
    let origin = Origin::builder()
        .id(origin_id)
        .domain_name(format!("{bucket}.s3.amazonaws.com"))
        .origin_path(crate::store::layout::cdn_origin_path())
        .s3_origin_config(S3OriginConfig::builder().origin_access_identity("").build())
        .build()?;
    let behaviour = DefaultCacheBehavior::builder()
        .target_origin_id(origin_id)
        .viewer_protocol_policy(ViewerProtocolPolicy::RedirectToHttps)
        .cache_policy_id(CACHING_OPTIMIZED_POLICY)
        .build()?;
    let config = DistributionConfig::builder()
        .caller_reference(comment.clone())
        .origins(Origins::builder().quantity(1).items(origin).build()?)
        .default_cache_behavior(behaviour)
        .comment(comment)
        .enabled(true)
        .build()?;
    let created = cloudfront
        .create_distribution()
        .distribution_config(config)
        .send()
        .await?;
    let made = created
        .distribution()
        .ok_or("the emulator returned no distribution")?;
    Ok(Distribution {
        id: made.id().to_owned(),
        domain: made.domain_name().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;

    fn with_endpoint(endpoint: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .build()
    }

    #[test]
    fn only_loopback_endpoints_are_emulators() {
        for endpoint in [
            "http://127.0.0.1:5000",
            "http://localhost:4566",
            "http://[::1]:5000/",
            "http://127.9.9.9",
        ] {
            assert!(endpoint_is_loopback(&with_endpoint(endpoint)), "{endpoint}");
        }
        for endpoint in [
            "https://s3.amazonaws.com",
            "http://10.0.0.5:5000",
            "http://127.0.0.1.example.com",
            "http://localhost.example.com:5000",
        ] {
            assert!(
                !endpoint_is_loopback(&with_endpoint(endpoint)),
                "{endpoint}"
            );
        }
        let real = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        assert!(
            !endpoint_is_loopback(&real),
            "no endpoint means the real AWS"
        );
    }
}

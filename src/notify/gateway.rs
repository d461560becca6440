//! An SMS gateway over HTTP: each message is posted as JSON (phone, signature, the deployment's
//! template id, the registry's variables, our message id) and the gateway answers its own message
//! id; later it posts delivery receipts naming that id to `/sms/receipts`, signed with a shared
//! secret (HMAC-SHA256 of the body, hex, in `X-Signature`).

use super::{LogSender, Outgoing, Sender, Undeliverable, registry};
use anyhow::Context;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

/// The gateway as configured (`XIAFANG_SMS_*`).
#[derive(Clone, Debug, Default)]
pub struct GatewayConfig {
    /// Where messages are posted; unset: no gateway, messages go to the log.
    pub url: Option<String>,
    /// Sent as `Authorization: Bearer …`.
    pub key: Option<String>,
    /// The registered signature (签名) without its brackets, e.g. 浦阳信访.
    pub signature: Option<String>,
    /// The deployment's approved template id of each citizen kind of the registry.
    pub templates: BTreeMap<String, String>,
    /// The secret the gateway signs its receipts with; unset: every receipt is refused.
    pub receipt_secret: Option<String>,
    pub timeout: Duration,
}

/// `registration.submitted=SMS_1234,phone.code=SMS_5678`
pub fn parse_templates(s: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (kind, id) = pair
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, v)| !k.is_empty() && !v.is_empty())
            .ok_or_else(|| format!("“{pair}”不是 种类=模板编号"))?;
        if registry::template(kind).is_none() {
            return Err(format!("没有“{kind}”这种短信"));
        }
        map.insert(kind.to_owned(), id.to_owned());
    }
    Ok(map)
}

pub struct HttpSender {
    client: reqwest::Client,
    url: String,
    key: Option<String>,
    signature: String,
    templates: BTreeMap<String, String>,
}

impl HttpSender {
    /// The configured gateway, or None when no URL is set. Refuses to start with a signature
    /// missing or a citizen kind without its template id: better than failing one SMS at a time.
    pub fn from_config(c: &GatewayConfig) -> anyhow::Result<Option<HttpSender>> {
        let Some(url) = c.url.clone() else {
            return Ok(None);
        };
        let signature = c
            .signature
            .as_deref()
            .map(|s| s.trim().trim_start_matches('【').trim_end_matches('】'))
            .filter(|s| (2..=12).contains(&s.chars().count()))
            .context("请设置 XIAFANG_SMS_SIGNATURE：短信网关登记的签名（2 至 12 个字）")?
            .to_owned();
        let missing: Vec<&str> = registry::TEMPLATES
            .iter()
            .filter(|t| t.to == registry::To::Citizen && !c.templates.contains_key(t.kind))
            .map(|t| t.kind)
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "XIAFANG_SMS_TEMPLATES 缺少这些短信的模板编号：{}",
                missing.join(", ")
            );
        }
        let client = reqwest::Client::builder()
            .timeout(c.timeout)
            .build()
            .context("SMS gateway client")?;
        Ok(Some(HttpSender {
            client,
            url,
            key: c.key.clone(),
            signature,
            templates: c.templates.clone(),
        }))
    }
}

/// What the gateway answers a message it accepted.
#[derive(Deserialize)]
struct Accepted {
    message_id: String,
}

impl Sender for HttpSender {
    async fn send(&self, m: &Outgoing) -> anyhow::Result<Option<String>> {
        if m.channel != "sms" {
            return LogSender.send(m).await;
        }
        let phone = m
            .phone
            .as_ref()
            .ok_or(Undeliverable("没有手机号码，无法发送短信"))?;
        let template = self
            .templates
            .get(&m.kind)
            .with_context(|| format!("no template id for {}", m.kind))?;
        let mut request = self.client.post(&self.url).json(&serde_json::json!({
            "phone": phone.0,
            "signature": self.signature,
            "template": template,
            "variables": m.params,
            "reference": m.id.to_string(),
        }));
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        // Only the status: a gateway's error text may repeat the number or the code.
        let response = request
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("SMS gateway unreachable: {}", e.without_url()))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("SMS gateway answered {status}");
        }
        let accepted: Accepted = response
            .json()
            .await
            .map_err(|e| anyhow::anyhow!("SMS gateway's answer unreadable: {}", e.without_url()))?;
        let id = accepted.message_id.trim();
        if id.is_empty() || id.chars().count() > 100 {
            anyhow::bail!("SMS gateway's message id unusable");
        }
        tracing::info!(id = m.id, kind = %m.kind, "sms accepted by the gateway");
        Ok(Some(id.to_owned()))
    }
}

/// The header that carries a receipt's signature.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// Whether `signature` (hex) is the HMAC-SHA256 of `body` under `secret`; compared in constant time.
pub fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(tag) = hex::decode(signature.trim()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}

/// One delivery receipt: the gateway's message id, delivered or not, when, and why not.
#[derive(Debug, Deserialize)]
pub struct Receipt {
    pub message_id: String,
    pub status: Delivered,
    pub at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Delivered {
    Delivered,
    Undelivered,
}

/// A receipt or a batch of them.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Receipts {
    One(Receipt),
    Many(Vec<Receipt>),
}

impl Receipts {
    pub fn into_vec(self) -> Vec<Receipt> {
        match self {
            Receipts::One(r) => vec![r],
            Receipts::Many(v) => v,
        }
    }
}

/// Mark the messages the receipts name; returns how many were found.
pub async fn record(
    db: &sqlx::PgPool,
    receipts: &[Receipt],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut found = 0;
    for r in receipts {
        let (receipt, error) = match r.status {
            Delivered::Delivered => ("delivered", None),
            Delivered::Undelivered => (
                "undelivered",
                Some(
                    r.error
                        .as_deref()
                        .map(str::trim)
                        .filter(|e| !e.is_empty())
                        .unwrap_or("未说明原因")
                        .chars()
                        .take(200)
                        .collect::<String>(),
                ),
            ),
        };
        found += sqlx::query!(
            "UPDATE notifications SET receipt = $2, receipt_at = $3, receipt_error = $4 WHERE gateway_id = $1",
            r.message_id.trim(),
            receipt,
            r.at.unwrap_or(now),
            error
        )
        .execute(db)
        .await?
        .rows_affected();
    }
    Ok(found)
}

/// The outbox's 发送 column.
pub fn status_label(status: &str) -> &'static str {
    match status {
        "sent" => "已发送",
        "failed" => "发送失败",
        _ => "待发送",
    }
}

/// The outbox's 送达 column: what the gateway's receipt said, or that it is awaited; nothing for a
/// message no gateway took (not sent yet, or written to the log).
pub fn delivery_label(
    status: &str,
    gateway_id: Option<&str>,
    receipt: Option<&str>,
    error: Option<&str>,
) -> String {
    match (status, gateway_id, receipt) {
        (_, _, Some("delivered")) => "已送达".into(),
        (_, _, Some(_)) => format!("未送达（{}）", error.unwrap_or("未说明原因")),
        ("sent", Some(_), None) => "待回执".into(),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delivery_column_follows_the_receipt() {
        assert_eq!(
            delivery_label("sent", Some("g1"), Some("delivered"), None),
            "已送达"
        );
        assert_eq!(
            delivery_label("sent", Some("g1"), Some("undelivered"), Some("空号")),
            "未送达（空号）"
        );
        assert_eq!(delivery_label("sent", Some("g1"), None, None), "待回执");
        assert_eq!(
            delivery_label("sent", None, None, None),
            "—",
            "the log sender's"
        );
        assert_eq!(delivery_label("pending", None, None, None), "—");
        assert_eq!(status_label("failed"), "发送失败");
    }

    #[test]
    fn template_ids_parse_and_name_only_kinds_of_the_registry() {
        let t = parse_templates(" registration.submitted=SMS_1, phone.code = SMS_2 ,").unwrap();
        assert_eq!(t["registration.submitted"], "SMS_1");
        assert_eq!(t["phone.code"], "SMS_2");
        assert!(parse_templates("registration.confirmed=SMS_1").is_err());
        assert!(parse_templates("phone.code").is_err());
        assert!(parse_templates("phone.code=").is_err());
    }

    #[test]
    fn a_gateway_needs_a_signature_and_every_citizen_template() {
        let all: BTreeMap<String, String> = registry::TEMPLATES
            .iter()
            .filter(|t| t.to == registry::To::Citizen)
            .map(|t| (t.kind.to_owned(), format!("SMS_{}", t.kind.len())))
            .collect();
        let mut c = GatewayConfig {
            url: Some("http://127.0.0.1:9/sms".into()),
            signature: Some("【浦阳信访】".into()),
            templates: all.clone(),
            timeout: Duration::from_secs(1),
            ..Default::default()
        };
        let sender = HttpSender::from_config(&c).unwrap().unwrap();
        assert_eq!(sender.signature, "浦阳信访");
        c.templates.remove("phone.code");
        let e = HttpSender::from_config(&c).err().unwrap().to_string();
        assert!(e.contains("phone.code"), "{e}");
        c.templates = all;
        c.signature = None;
        assert!(HttpSender::from_config(&c).is_err());
        c.url = None;
        assert!(HttpSender::from_config(&c).unwrap().is_none());
    }

    #[test]
    fn only_the_secrets_signature_of_these_very_bytes_passes() {
        let body = br#"{"message_id":"g-1","status":"delivered"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(signed("s3cret", body, &good));
        assert!(!signed("other", body, &good));
        assert!(!signed(
            "s3cret",
            br#"{"message_id":"g-2","status":"delivered"}"#,
            &good
        ));
        assert!(!signed("s3cret", body, "zz"));
        assert!(!signed("s3cret", body, ""));
    }
}

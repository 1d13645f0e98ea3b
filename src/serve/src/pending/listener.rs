//! Each instance's dedicated connection that LISTENs for `twofold_decision`: a notification
//! names a challenge; if this instance has a host waiting for it, the decision is read and the
//! waiter woken. Notifications sent while the connection is down are lost, so after every
//! (re)connect all challenges with waiters here are read again.
#![forbid(unsafe_code)]

use super::shared::{CHANNEL, SharedChallenges};
use crate::log;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// Wait before connecting again after the connection failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Runs for the life of the service.
pub async fn run(shared: Arc<SharedChallenges>) {
    loop {
        match listen(&shared).await {
            Ok(()) => log("event=decision_listener_lost"),
            Err(e) => log(&format!(
                "event=decision_listener_failed reason={:?}",
                e.to_string()
            )),
        }
        tokio::time::sleep(RECONNECT_DELAY).await;
    }
}

/// One connection's life: LISTEN, catch up, then relay notifications until it drops.
async fn listen(shared: &SharedChallenges) -> Result<(), Box<dyn std::error::Error>> {
    let config = shared.db().config();
    match shared.db().tls() {
        Some(tls) => {
            let (client, connection) = config.connect(tls.clone()).await?;
            relay(shared, client, connection).await
        }
        None => {
            let (client, connection) = config.connect(NoTls).await?;
            relay(shared, client, connection).await
        }
    }
}

/// LISTEN on `client`, catch up, then relay notifications until `connection` drops.
async fn relay<S, T>(
    shared: &SharedChallenges,
    client: tokio_postgres::Client,
    mut connection: tokio_postgres::Connection<S, T>,
) -> Result<(), Box<dyn std::error::Error>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut ids) = mpsc::unbounded_channel::<String>();
    // The connection delivers notifications only while polled: a task of its own does that.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if tx.send(n.payload().to_string()).is_err() {
                        break;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    let caught_up = shared.refresh_all().await?;
    log(&format!(
        "event=decision_listener_connected rechecked={caught_up}"
    ));
    while let Some(id) = ids.recv().await {
        if let Err(e) = shared.refresh(&id).await {
            log(&format!(
                "event=decision_refresh_failed reason={:?}",
                e.to_string()
            ));
        }
    }
    driver.abort();
    drop(client);
    Ok(())
}

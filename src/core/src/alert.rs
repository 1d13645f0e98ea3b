//! Telling the administrator about a sign-in reported as "not me": `[alerts] command`, an argv
//! template run without a shell, with the event as key=value lines on stdin, killed after
//! `timeout_seconds`. What the user is then told depends on whether it ran.
#![forbid(unsafe_code)]

use crate::config::AlertsConfig;
use std::time::Duration;

/// What happened, as the alert's placeholders and stdin carry it (no secret, no code, no number).
pub struct Event<'a> {
    /// "push_reported".
    pub event: &'a str,
    pub user: &'a str,
    pub host: &'a str,
    pub service: &'a str,
    pub rhost: &'a str,
    /// Unix time.
    pub time: u64,
}

/// How the alert went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// No `[alerts] command` configured.
    NotConfigured,
    /// The command ran and exited 0.
    Delivered,
    /// It could not be started, exited non-zero or was killed at the timeout (why).
    Failed(String),
}

/// Runs the configured command for `event`.
pub fn send(config: &AlertsConfig, event: &Event<'_>) -> Sent {
    let Some((program, args)) = config.command.split_first() else {
        return Sent::NotConfigured;
    };
    let time = crate::when::iso8601(event.time);
    let fill = |arg: &str| {
        arg.replace("{event}", event.event)
            .replace("{user}", event.user)
            .replace("{host}", event.host)
            .replace("{service}", event.service)
            .replace("{rhost}", event.rhost)
            .replace("{time}", &time)
    };
    let args: Vec<String> = args.iter().map(|a| fill(a)).collect();
    let body = format!(
        "event={}\nuser={}\nhost={}\nservice={}\nrhost={}\ntime={time}\n",
        event.event, event.user, event.host, event.service, event.rhost
    );
    let timeout = Duration::from_secs(config.timeout_seconds);
    match crate::child::run(program, &args, body.as_bytes(), timeout) {
        Ok(()) => Sent::Delivered,
        Err(why) => Sent::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn event() -> Event<'static> {
        Event {
            event: "push_reported",
            user: "alice",
            host: "web1",
            service: "sshd",
            rhost: "192.0.2.7",
            time: 0,
        }
    }

    fn config(command: &[&str], timeout_seconds: u64) -> AlertsConfig {
        AlertsConfig {
            command: command.iter().map(|s| s.to_string()).collect(),
            timeout_seconds,
        }
    }

    #[test]
    fn the_command_gets_its_argv_filled_in_and_the_event_on_stdin_without_a_shell() {
        let dir = std::env::temp_dir().join(format!("twofold-alert-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("record.sh");
        let out = dir.join("out");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}.argv\ncat > {0}.stdin\n",
                out.display()
            ),
        )
        .unwrap();
        let sent = send(
            &config(
                &[
                    "/bin/sh",
                    script.to_str().unwrap(),
                    "{user} on {host}",
                    "$(id)",
                    "{time}",
                ],
                5,
            ),
            &event(),
        );
        assert_eq!(sent, Sent::Delivered);
        let argv = std::fs::read_to_string(dir.join("out.argv")).unwrap();
        // One argument per template word, "$(id)" passed as it is: no shell.
        assert_eq!(argv, "alice on web1\n$(id)\n1970-01-01T00:00:00Z\n");
        let stdin = std::fs::read_to_string(dir.join("out.stdin")).unwrap();
        assert_eq!(
            stdin,
            "event=push_reported\nuser=alice\nhost=web1\nservice=sshd\nrhost=192.0.2.7\ntime=1970-01-01T00:00:00Z\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failing_hanging_or_missing_command_is_reported_as_not_delivered() {
        assert_eq!(send(&config(&[], 5), &event()), Sent::NotConfigured);
        assert!(matches!(
            send(&config(&["/bin/false"], 5), &event()),
            Sent::Failed(why) if why.contains("exited")
        ));
        let started = Instant::now();
        assert!(matches!(
            send(&config(&["/bin/sleep", "30"], 1), &event()),
            Sent::Failed(why) if why.contains("killed after 1 s")
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(matches!(
            send(&config(&["/nonexistent/alert"], 5), &event()),
            Sent::Failed(why) if why.contains("cannot run")
        ));
    }
}

//! The store as a sign-in uses it: one read before the prompt, one under the lock.
#![forbid(unsafe_code)]

use super::*;

fn store() -> (std::path::PathBuf, tempfile::TempDir, UserStore, UserName) {
    let temp = tempfile::tempdir().expect("temp dir");
    let dir = temp.path().join("s");
    let store = UserStore::create(&dir).expect("store");
    (dir, temp, store, UserName::parse(b"alice").expect("name"))
}

#[test]
fn a_state_written_by_another_sign_in_after_the_peek_is_what_the_lock_reads() {
    let (dir, _temp, sign_in, user) = store();
    let other = UserStore::open(&dir).expect("other process's store");
    let first = UserState {
        last_step: 100,
        last_success: 1,
        ..UserState::default()
    };
    let lock = other.lock(&user).expect("lock");
    other.save_state(&user, &lock, &first).expect("save");
    drop(lock);

    let peeked = sign_in.peek_state(&user).expect("peek");
    assert_eq!(peeked.last_step, 100);
    assert_eq!(peeked.last_success, 1);

    // Another sign-in of the same user accepts step 101 while this one waits for its answer.
    let lock = other.lock(&user).expect("lock");
    let newer = UserState {
        last_step: 101,
        last_success: 2,
        ..other.load_state(&user, &lock).expect("load")
    };
    other.save_state(&user, &lock, &newer).expect("save");
    drop(lock);

    let lock = sign_in.lock(&user).expect("lock");
    let state = sign_in.load_state(&user, &lock).expect("load");
    assert_eq!(state.last_step, 101, "the newer step, not the peeked one");
    assert_eq!(
        state.last_success, 2,
        "the newer state file, not the peeked one"
    );
}

#[test]
fn an_unchanged_state_file_reads_the_same_twice_and_a_damaged_one_is_still_refused() {
    let (dir, _temp, store, user) = store();
    let state = UserState {
        last_step: 7,
        used_recovery: vec!["ab".into()],
        ..UserState::default()
    };
    let lock = store.lock(&user).expect("lock");
    store.save_state(&user, &lock, &state).expect("save");
    let peeked = store.peek_state(&user).expect("peek");
    let loaded = store.load_state(&user, &lock).expect("load");
    assert_eq!(peeked, loaded);
    assert_eq!(loaded.used_recovery, vec!["ab".to_string()]);
    assert_eq!(loaded.last_step, 7);

    let path = dir.join("state/alice.toml");
    std::fs::write(&path, b"last_step = \"not a number\"\n").expect("damage");
    let err = store.load_state(&user, &lock).expect_err("refused");
    assert!(matches!(err, StoreError::Malformed { .. }), "{err}");
}

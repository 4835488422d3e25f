from pawprint.training import resume_key


def test_resume_key_changes_with_any_param_or_input(tmp_path):
    a, b = tmp_path / "labeled.npy", tmp_path / "val.npy"
    a.write_bytes(b"labeled v1")
    b.write_bytes(b"val")
    params = {"seed": 0, "baseline.lr": 0.002}
    key = resume_key("train_baseline", params, [a, b])
    assert key == resume_key("train_baseline", dict(params), [b, a])  # order does not matter
    assert key != resume_key("train_baseline", {**params, "baseline.lr": 0.003}, [a, b])
    assert key != resume_key("train_teacher", params, [a, b])
    a.write_bytes(b"labeled v2")
    assert key != resume_key("train_baseline", params, [a, b])


def test_checkpoint_dir_is_owned_by_one_process_at_a_time(tmp_path):
    import pytest

    from pawprint.training import checkpoint_dir

    with checkpoint_dir(tmp_path, "k", resume=True) as first:
        assert first == tmp_path / "k"
        (first / "last.ckpt").parent.mkdir(parents=True, exist_ok=True)
        (first / "last.ckpt").write_bytes(b"epoch 3")
        # a second holder of the same key (the lock is per open file, as for another process) gets its own
        with checkpoint_dir(tmp_path, "k", resume=True) as second:
            assert second != first and second.parent == tmp_path
        assert not second.exists() and (first / "last.ckpt").exists()
    assert not first.exists()  # finished: removed

    with pytest.raises(RuntimeError), checkpoint_dir(tmp_path, "k", resume=True) as owned:
        owned.mkdir(exist_ok=True)
        (owned / "last.ckpt").write_bytes(b"epoch 1")
        raise RuntimeError("killed")
    assert (tmp_path / "k" / "last.ckpt").exists()  # kept for the next run to resume
    with checkpoint_dir(tmp_path, "k", resume=False) as fresh:
        assert not (fresh / "last.ckpt").exists()  # train.resume: false starts afresh

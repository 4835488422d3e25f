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

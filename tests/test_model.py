import pytest
import torch

from prefrec.features import n_windows
from prefrec.model import ModelConfig, TasteModel
from prefrec.stats import wide_inputs


def _per_window_logits(model, mfcc: torch.Tensor) -> torch.Tensor:
    count = n_windows(mfcc.shape[1])
    windows = []
    for i in range(count):
        w = mfcc[:, i * 50 : i * 50 + 400]
        if w.shape[1] < 400:  # pad with the mean: 0 after standardisation, as the model pads
            w = torch.cat([w, model.mfcc_mean[:, None].expand(-1, 400 - w.shape[1])], dim=1)
        windows.append(w)
    wide = torch.from_numpy(wide_inputs(mfcc.numpy())) if model.config.wide else None  # [n, 120]
    return model(torch.stack(windows), wide)[0]


@pytest.mark.parametrize("frames", [250, 400, 449, 450, 1013, 3000])
@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(channels=(16, 16, 16), kernels=(3, 3, 3),
                                                                 pools=(2, 5, 1), lstm_hidden=8, wide=False)])
def test_running_the_cnn_once_over_the_track_equals_scoring_each_window_alone(frames, config):
    torch.manual_seed(frames)
    model = TasteModel(config).eval()
    model.set_normalisation(torch.randn(20) * 10, torch.rand(20) * 5 + 1)
    with torch.no_grad():  # a wide part, blend and calibration that all matter
        model.wide_weight.copy_(torch.randn(config.n_wide))
        model.set_wide_normalisation(torch.randn(config.n_wide) * 5, torch.rand(config.n_wide) * 10 + 1)
        model.set_blend(0.3, 2.0, -0.5, 3.0)
        model.set_calibration(0.7, -1.2)
    mfcc = torch.randn(20, frames) * 20
    with torch.no_grad():
        shared = model.track_outputs(mfcc)[0]
        alone = _per_window_logits(model, mfcc)
    assert shared.shape == (n_windows(frames),)
    torch.testing.assert_close(shared, alone, atol=1e-5, rtol=1e-5)
    assert frames < 450 or shared.std() > 0  # windows really differ


def test_pooling_factor_must_divide_the_window_step():
    with pytest.raises(ValueError, match="divide"):
        ModelConfig(pools=(3, 3))


def test_cnn_convolves_along_time_only():
    model = TasteModel(ModelConfig())
    convs = [m for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d))]
    pools = [m for m in model.modules() if isinstance(m, (torch.nn.MaxPool2d, torch.nn.AvgPool2d))]
    assert convs and all(isinstance(m, torch.nn.Conv1d) for m in convs) and not pools
    assert convs[0].in_channels == 20  # the coefficients are input channels, never convolved across
    assert all(m.padding == (0,) for m in convs)  # "valid": what lets windows be slices of one pass


def test_config_round_trips_through_json():
    config = ModelConfig(channels=(8, 8), lstm_hidden=4)
    assert ModelConfig.from_json(config.to_json()) == config


def test_the_window_logit_is_the_calibrated_blend_of_the_deep_and_the_wide_part():
    torch.manual_seed(0)
    model = TasteModel(ModelConfig(channels=(8, 8), lstm_hidden=4, deep_share=0.25)).eval()
    with torch.no_grad():
        model.wide_weight.copy_(torch.randn(120))
        model.set_blend(1.0, 2.0, -1.0, 4.0)
        model.set_calibration(0.5, 0.1)
    mfcc = torch.randn(20, 900) * 10
    with torch.no_grad():
        deep, wide, emb = model.track_parts(mfcc)
        logits, emb2 = model.track_outputs(mfcc)
    expected = 0.5 * (0.25 * (deep - 1.0) / 2.0 + 0.75 * (wide + 1.0) / 4.0) + 0.1
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(emb, emb2)
    with pytest.raises(ValueError, match="statistics"):
        model(torch.randn(2, 20, 400))  # a wide model cannot score windows without their statistics


def test_a_new_wide_part_draws_no_random_numbers():
    # Adding the wide part must not change the encoder's initialisation for a seed (pretraining
    # runs stay reproducible across the change).
    torch.manual_seed(3)
    with_wide = TasteModel(ModelConfig(wide=True))
    torch.manual_seed(3)
    without = TasteModel(ModelConfig(wide=False))
    for name, tensor in without.state_dict().items():
        if not name.startswith(("wide", "blend", "calibration")):
            torch.testing.assert_close(with_wide.state_dict()[name], tensor)


@pytest.mark.parametrize("batch", [1, 3, 2048])
def test_scoring_a_track_in_eval_mode_gives_nn_lstms_numbers(batch):
    # Eval mode computes each CNN step's LSTM input projection once for all the windows that read it
    # (TasteModel.window_states); training mode runs nn.LSTM on every window's slice. Without dropout
    # the two must agree, whatever the chunking of the windows.
    torch.manual_seed(batch)
    model = TasteModel(ModelConfig(dropout=0.0))
    model.set_normalisation(torch.randn(20) * 10, torch.rand(20) * 5 + 1)
    mfcc = torch.randn(20, 1537) * 20
    with torch.no_grad():
        reference = model.train().track_representations(mfcc, batch=batch)
        fast = model.eval().track_representations(mfcc, batch=batch)
    assert fast.shape == (n_windows(1537), 64 + 120)
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    assert reference[:, :64].std(dim=0).mean() > 1e-3  # the windows' states really differ


def test_pooling_before_the_relu_gives_the_cnns_numbers():
    torch.manual_seed(5)
    model = TasteModel(ModelConfig()).eval()
    x = torch.randn(2, 20, 1234) * 3
    with torch.no_grad():
        assert torch.equal(model._cnn_pooled_first(x), model.cnn(x))

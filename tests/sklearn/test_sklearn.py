"""mlpext.sklearn: scikit-learn's estimator checks on MLPClassifier and MLPRegressor, and their behaviour.

Skipped when scikit-learn is not installed (pip install scikit-learn, or pip install ".[sklearn]" from the checkout).
"""
import inspect
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, load_iris, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlp_helpers import subprocess_env, unitless_timedelta  # noqa: E402
from mlpext import MLP  # noqa: E402
from mlpext.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


# ---------------------------------------------------------------------------------------------------- the checks
@parametrize_with_checks([MLPClassifier(), MLPRegressor(),
                          MLPClassifier(solver="sgd", dtype="float32"), MLPRegressor(solver="sgd", dtype="float32")])
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        # The checks fit tiny data sets for max_iter epochs; not converging there is expected and harmless.
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------------------------------------------- behaviour
def test_import_mlpext_does_not_import_sklearn(tmp_path):
    """In a fresh interpreter (outside the checkout, with the mlpext these tests use)."""
    code = ("import sys, mlpext, mlpext.network, mlpext.digits\n"
            "assert not any(m == 'sklearn' or m.startswith('sklearn.') for m in sys.modules)\n"
            "assert 'PIL' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(), cwd=tmp_path)


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)


def test_classifier_digits_accuracy(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(64,), batch_size=32, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) >= 0.95
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_test))
    assert clf.n_iter_ == 30 and len(clf.loss_curve_) == 30
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_features_in_ == 64
    assert [W.shape for W in clf.coefs_] == [(64, 64), (64, 10)]
    assert [b.shape for b in clf.intercepts_] == [(64,), (10,)]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_classifier_solvers_and_dtypes(solver, dtype):
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), solver=solver, learning_rate_init=0.01, max_iter=300,
                        batch_size=16, random_state=0, dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.score(X, y) >= 0.9
    assert clf.coefs_[0].dtype == np.dtype(dtype)
    assert clf.predict_proba(X).dtype == np.float64


def test_mlpext_activations_are_accepted():
    """mlpext's own hidden activations (gelu among them) train the estimator's network with that activation."""
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    for activation in ("gelu", "leaky_relu", "sigmoid"):
        clf = MLPClassifier(hidden_layer_sizes=(16,), activation=activation, learning_rate_init=0.01, max_iter=200,
                            batch_size=16, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, y)
        assert clf._net.activations[0] == activation
        assert clf.score(X, y) >= 0.9


def test_classifier_string_labels_binary():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    labels = np.where(y == 0, "setosa", "other")
    clf = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=0.01, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    assert list(clf.classes_) == ["other", "setosa"]
    assert clf.n_outputs_ == 1 and clf.out_activation_ == "logistic"
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert set(clf.predict(X)) <= {"other", "setosa"}
    assert clf.score(X, labels) == 1.0


def test_classifier_one_class_is_an_error():
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().fit(np.zeros((3, 2)), [1, 1, 1])


def test_classifier_partial_fit():
    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    clf = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])  # only class 0 in this batch
    assert list(clf.classes_) == [0, 1, 2] and clf.n_iter_ == 1
    for _ in range(100):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == 101 and len(clf.loss_curve_) == 101
    assert clf.score(X, y) >= 0.9
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:2], [0, 7])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)


def test_partial_fit_continues_fit():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    W = clf.coefs_[0].copy()
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 6
    assert not np.array_equal(W, clf.coefs_[0])


def test_regressor_single_and_multi_output():
    X, y = make_regression(n_samples=300, n_features=5, n_targets=2, noise=0.1, random_state=0)
    y = (y - y.mean(0)) / y.std(0)
    reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)
    reg.fit(X, y)
    assert reg.predict(X).shape == (300, 2)
    assert reg.score(X, y) > 0.95
    reg1 = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)
    reg1.fit(X, y[:, 0])
    assert reg1.predict(X).shape == (300,)
    assert reg1.predict(X).dtype == np.float64
    assert reg1.score(X, y[:, 0]) > 0.95


def test_convergence_warning_and_early_stop_on_training_loss():
    X, y = load_iris(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier(max_iter=3, random_state=0).fit(X, y)
    # A huge tol: after the first epoch (which improves on inf) the loss never improves "enough", so training
    # stops once n_iter_no_change + 1 epochs have not improved: after n_iter_no_change + 2 epochs in all.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = MLPClassifier(max_iter=100, tol=10.0, n_iter_no_change=4, random_state=0).fit(X, y)
    assert clf.n_iter_ == 6


def test_early_stopping_on_validation_score(digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier(hidden_layer_sizes=(32,), early_stopping=True, max_iter=200, batch_size=32,
                        random_state=0).fit(X_train, y_train)
    assert clf.n_iter_ < 200
    assert len(clf.validation_scores_) == clf.n_iter_
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.score(X_test, y_test) > 0.9
    with pytest.raises(ValueError, match="early_stopping"):
        clf.partial_fit(X_train, y_train)



@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_best_loss_is_none_with_early_stopping_as_scikit_learns(Estimator):
    # scikit-learn documents best_loss_ as None with early_stopping=True (best_validation_score_ is the measure);
    # it was np.inf, as if no finite loss had been reached
    from sklearn import neural_network

    X, y = load_iris(return_X_y=True)
    params = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = getattr(neural_network, Estimator.__name__)(early_stopping=True, **params).fit(X, y)
        ours = Estimator(early_stopping=True, warm_start=True, **params).fit(X, y)
        assert theirs.best_loss_ is None and ours.best_loss_ is None
        # without early stopping again (warm start, then partial_fit): a loss, not compared with None
        ours.set_params(early_stopping=False).fit(X, y)
        assert ours.best_loss_ == min(ours.loss_curve_[-5:])
        again = Estimator(early_stopping=True, **params).fit(X, y)
        again.set_params(early_stopping=False).partial_fit(X, y)
        assert again.best_loss_ == again.loss_curve_[-1]
        again.set_params(early_stopping=True, warm_start=True).fit(X, y)
        assert again.best_loss_ is None


def test_deterministic_with_random_state():
    X, y = load_iris(return_X_y=True)
    a = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=3)
    b = MLPClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y)
        b.fit(X, y)
    for Wa, Wb in zip(a.coefs_, b.coefs_):
        np.testing.assert_array_equal(Wa, Wb)
    assert a.loss_curve_ == b.loss_curve_


def test_random_state_is_the_mlp_seed():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=1, random_state=7)
    net = MLP([4, 8, 3], loss="cross_entropy", optimizer="adam", dtype=np.float64, seed=7)
    clf._check_params()
    clf._draw_seed()
    clf._make_net(4, 3, "cross_entropy", 150, "relu", (8,), np.dtype(np.float64), clf._seed)
    for (W, b), (W2, b2) in zip(clf._net.params, net.params):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)


def test_alpha_maps_to_weight_decay_over_batch_size():
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(alpha=0.5, batch_size=25, max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf._net.weight_decay == pytest.approx(0.5 / 25)


def test_pickle_roundtrip(digits):
    X_train, X_test, y_train, _ = digits
    clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X_test), clf.predict_proba(X_test))
    assert clone.coefs_[0] is clone._net.params[0][0]  # still the network's own arrays, not copies
    clone.partial_fit(X_train, y_train)  # still trainable after unpickling
    assert clone.n_iter_ == 6
    assert not np.array_equal(clone.coefs_[0], clf.coefs_[0])



@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_joblib_load_keeps_coefs_the_networks_own_arrays(Estimator, tmp_path):
    # joblib pickles each array on its own, so the loaded coefs_ were copies: an edit in place (pruning, say) no
    # longer reached predict, as it does with scikit-learn's estimators and with plain pickle
    joblib = pytest.importorskip("joblib")
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    assert all(W is W_net and b is b_net
               for W, b, (W_net, b_net) in zip(loaded.coefs_, loaded.intercepts_, loaded._net.params))
    loaded.coefs_[-1][...] = 0.0  # the output layer zeroed: a constant output
    loaded.intercepts_[-1][...] = 0.0
    if Estimator is MLPClassifier:
        np.testing.assert_array_equal(loaded.predict_proba(X), np.full((150, 3), 1 / 3))  # softmax of zeros
    else:
        np.testing.assert_array_equal(loaded.predict(X), np.zeros(150))


def test_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(X)
    with pytest.raises(ValueError, match="solver"):
        MLPClassifier(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        MLPClassifier(activation="softplus").fit(X, y)
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        MLPClassifier(hidden_layer_sizes=(0,)).fit(X, y)
    with pytest.raises(ValueError, match="dtype"):
        MLPClassifier(dtype="int32").fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MLPClassifier().fit(Xn, y)
    scipy_sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match="[Ss]parse"):
        MLPClassifier().fit(scipy_sparse.csr_matrix(X), y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.warns(UserWarning, match="clipped"):
            MLPClassifier(batch_size=1000, max_iter=1).fit(X, y)



@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("n_targets", [1, 2])
def test_regressor_refuses_a_sparse_y_as_the_classifier_does(method, n_targets):
    # the regressor's y was validated with multi_output=True, which lets a sparse matrix through, and then NumPy
    # failed on it ("setting an array element with a sequence"); the classifier gives scikit-learn's TypeError
    sparse = pytest.importorskip("scipy.sparse")
    X, y = load_iris(return_X_y=True)
    Y = sparse.csr_matrix(np.column_stack([y] * n_targets))
    with pytest.raises(TypeError) as expected:
        MLPClassifier().fit(X, sparse.csr_matrix(y.reshape(-1, 1)))
    reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0).partial_fit(X, y)
    before, W = reg.predict(X), reg.coefs_[0].copy()
    with pytest.raises(TypeError) as error:
        getattr(reg, method)(X, Y)
    assert str(error.value) == str(expected.value)
    assert str(error.value).startswith("Sparse data was passed for y, but dense data is required")
    assert reg.n_iter_ == 1 and reg.coefs_[0] is reg._net.params[0][0]
    np.testing.assert_array_equal(reg.coefs_[0], W)
    np.testing.assert_array_equal(reg.predict(X), before)



@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_float32_regressor_refuses_a_y_beyond_float32_as_it_does_an_x(method):
    # y was validated as float64 and cast to float32 unchecked: 1e39 became inf, training started on it, the
    # fitted estimator was overwritten and the fit then raised "Solver produced non-finite parameter weights"
    X, y = load_iris(return_X_y=True)
    reg = MLPRegressor(hidden_layer_sizes=(4,), random_state=0, dtype="float32").partial_fit(X, y)
    before, W, curve = reg.predict(X), reg.coefs_[0].copy(), list(reg.loss_curve_)
    X_big, y_big = X.copy(), y.astype(np.float64)
    X_big[3, 1] = y_big[3] = 1e39  # finite in float64, beyond float32's range
    with pytest.raises(ValueError) as expected, np.errstate(over="ignore"):  # (NumPy's warning for the cast)
        getattr(reg, method)(X_big, y)
    assert str(expected.value) == "Input X contains infinity or a value too large for dtype('float32')."
    with pytest.raises(ValueError) as error:
        getattr(reg, method)(X, y_big)
    assert str(error.value) == str(expected.value).replace("Input X", "Input y")
    assert reg.n_iter_ == 1 and reg.loss_curve_ == curve and reg.coefs_[0] is reg._net.params[0][0]
    np.testing.assert_array_equal(reg.coefs_[0], W)
    np.testing.assert_array_equal(reg.predict(X), before)


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize("keyword, hint", [
    ("lr", "; did you mean 'learning_rate_init'?"),
    ("learning_rate", "; did you mean 'learning_rate_init'? (scikit-learn's learning_rate is the schedule "
                      "('constant', ...); mlpext's rate is constant)"),
    ("learning_rate_int", "; did you mean 'learning_rate_init'?"),
    ("hidden_layer_size", "; did you mean 'hidden_layer_sizes'?"),
    ("epochs", "; did you mean 'max_iter'?"),
    ("betas", "; did you mean 'beta_1' and 'beta_2'?"),
    ("power_t", " (mlpext has no learning-rate schedules, so no power_t)"),
    ("colour", ""),
])
def test_unknown_keywords_name_the_class_and_the_parameter_meant(cls, keyword, hint):
    with pytest.raises(TypeError) as error:
        cls(**{keyword: 0.1})
    assert str(error.value) == f"{cls.__name__}() got an unexpected keyword argument {keyword!r}{hint}"


def test_bad_positional_arguments_name_the_class():
    with pytest.raises(TypeError, match=r"^MLPClassifier\(\) takes at most 2 positional arguments "
                                        r"\(hidden_layer_sizes, activation\) but 3 were given"):
        MLPClassifier((8,), "relu", "adam")
    with pytest.raises(TypeError, match=r"^MLPRegressor\(\) got multiple values for argument 'activation'$"):
        MLPRegressor((8,), "tanh", activation="relu")



@pytest.mark.parametrize("Estimator, method, arguments", [
    (MLPClassifier, "fit", "X, y, comm"),
    (MLPRegressor, "fit", "X, y, comm"),
    (MLPRegressor, "partial_fit", "X, y, comm"),
    (MLPClassifier, "partial_fit", "X, y, classes, comm"),  # (its third argument is classes, as scikit-learn's was)
])
def test_sample_weight_passed_as_scikit_learn_takes_it_is_a_type_error(Estimator, method, arguments):
    # scikit-learn's fit(X, y, sample_weight) and MLPRegressor.partial_fit(X, y, sample_weight): positionally the
    # weights were taken for a communicator and died in mlpext.distributed ("'numpy.ndarray' object has no
    # attribute 'allgather'"); by keyword, Python's TypeError named the private _BaseMLP.fit()
    from sklearn.utils.validation import has_fit_parameter

    X, y = load_iris(return_X_y=True)
    est = Estimator(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    name = f"{Estimator.__name__}.{method}()"
    note = f" ({name[:-2]} takes {arguments}: scikit-learn's sample_weight is not supported)"
    for weights in (np.ones(150), list(np.ones(150))):
        with pytest.raises(TypeError) as error:
            if "classes" in arguments:
                est.partial_fit(X, y, [0, 1, 2], weights)
            else:
                getattr(est, method)(X, y, weights)
        assert str(error.value) == (f"{name}: comm must be an mpi4py intracommunicator or None, got "
                                    f"{type(weights).__name__}{note}")
    with pytest.raises(TypeError) as error:
        getattr(est, method)(X, y, comm="not a communicator")
    assert str(error.value) == f"{name}: comm must be an mpi4py intracommunicator or None, got str"
    with pytest.raises(TypeError) as error:
        getattr(est, method)(X, y, sample_weight=np.ones(150))
    assert str(error.value) == (f"{name} got an unexpected keyword argument 'sample_weight' (mlpext.sklearn "
                                f"does not support sample_weight)")
    with pytest.raises(TypeError, match=f"^{name[:-2]}\\(\\) got an unexpected keyword argument 'epochs'$"):
        getattr(est, method)(X, y, epochs=3)
    assert not hasattr(est, "_net") and not hasattr(est, "n_features_in_")  # nothing was done
    assert not has_fit_parameter(est, "sample_weight")  # scikit-learn's meta-estimators do not pass weights
    assert list(inspect.signature(getattr(est, method)).parameters) == arguments.split(", ")


def test_the_checked_init_keeps_the_parameters_visible():
    """get_params, clone and help() read the signature of __init__: it is still the full parameter list."""
    from sklearn.base import clone

    names = list(inspect.signature(MLPClassifier).parameters)
    assert names[:2] == ["hidden_layer_sizes", "activation"] and "learning_rate_init" in names
    clf = MLPRegressor((8,), "tanh", learning_rate_init=0.05)
    assert sorted(clf.get_params()) == sorted(names)
    assert clone(clf).get_params() == clf.get_params()


def test_warm_start_keeps_the_weights_and_takes_the_parameters_afresh():
    """As in scikit-learn: a warm-started fit starts from the weights the last fit left and takes every
    hyper-parameter as it is now (set_params), with a new optimizer; the same as mlpext.MLP so configured, given
    those weights, trained for the same epochs."""
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, warm_start=True, random_state=0, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        start = [(W.copy(), b.copy()) for W, b in zip(clf.coefs_, clf.intercepts_)]
        clf.set_params(solver="sgd", activation="tanh", momentum=0.5, learning_rate_init=0.05, alpha=0.3,
                       max_iter=3).fit(X, y)
    net = clf._net
    assert (net.optimizer, net.activations, net.momentum, net.nesterov) == ("sgd", ("tanh", "softmax"), 0.5, True)
    assert net.learning_rate == 0.05 and net.weight_decay == pytest.approx(0.3 / 150)
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 8
    same = MLP([4, 8, 3], activation="tanh", loss="cross_entropy", optimizer="sgd", momentum=0.5, nesterov=True,
               learning_rate=0.05, weight_decay=0.3 / 150, dtype=np.float64, seed=0)
    for (W, b), (W0, b0) in zip(same.params, start):
        W[...], b[...] = W0, b0
    losses = same.fit(X, y, epochs=3, batch_size=150)
    np.testing.assert_array_equal(clf.loss_curve_[5:], losses)
    for W, W_same in zip(clf.coefs_, [W for W, _ in same.params]):
        np.testing.assert_array_equal(W, W_same)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.set_params(warm_start=False).fit(X, y)
    assert clf._net is not net and len(clf.loss_curve_) == 3


def test_warm_start_with_other_layer_sizes_starts_a_new_network_of_the_new_shape():
    X, Y = make_regression(n_samples=60, n_features=4, n_targets=2, random_state=0)
    reg = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y[:, 0])
        assert reg.predict(X).shape == (60,)
        reg.fit(X, Y)  # two targets now: a new network with two outputs, predicting both
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (60, 2)
    assert np.isfinite(reg.score(X, Y))


@pytest.mark.parametrize("change", [dict(solver="sgd"), dict(activation="tanh"), dict(beta_1=0.5),
                                    dict(epsilon=1e-6), dict(dtype="float32")])
def test_partial_fit_refuses_settings_its_network_cannot_take(change):
    """partial_fit goes on with the network and its optimizer's state: a changed solver, activation, optimizer
    setting or dtype would be dropped silently, so it raises, naming it, and leaves the estimator as it was."""
    X, y = load_iris(return_X_y=True)
    clf = MLPClassifier(hidden_layer_sizes=(8,), random_state=0).partial_fit(X, y, classes=[0, 1, 2])
    W = clf.coefs_[0].copy()
    clf.set_params(**change)
    setting = {"solver": "optimizer", "beta_1": "betas", "epsilon": "eps"}.get(*change, *change)  # mlpext.MLP's
    with pytest.raises(ValueError, match=f"changed since it was made: {setting}"):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.coefs_[0], W)
    clf.set_params(learning_rate_init=0.01, alpha=0.1, **{k: MLPClassifier().get_params()[k] for k in change})
    clf.partial_fit(X, y)  # the learning rate and alpha may change: they are the step's, not the state's
    assert clf._net.learning_rate == 0.01



def test_partial_fit_checks_the_new_learning_rate_and_alpha_before_setting_either():
    # alpha passes the estimator's check (finite, >= 0) but its weight decay, 2/k * alpha / batch_size, is inf:
    # partial_fit had set the network's new learning rate before the weight decay's setter raised, naming
    # mlpext.MLP's weight_decay
    X, y = load_iris(return_X_y=True)
    reg = MLPRegressor(random_state=0, solver="sgd", batch_size=1).partial_fit(X, y)
    assert (reg._net.learning_rate, reg._net.weight_decay) == (0.001 / 2, 2 * 0.0001 / 1)
    W = reg.coefs_[0].copy()
    reg.set_params(learning_rate_init=0.5, alpha=1e308)
    message = ("alpha=1e+308 is out of mlpext's range: the weight decay it gives the network, 2 * alpha / 1, is "
               "inf (it must be finite and >= 0)")
    for call in (lambda: reg.partial_fit(X, y), lambda: MLPRegressor(**reg.get_params()).fit(X, y)):
        with pytest.raises(ValueError) as error:
            call()
        assert str(error.value) == message
    assert (reg._net.learning_rate, reg._net.weight_decay) == (0.001 / 2, 2 * 0.0001 / 1)
    assert reg.n_iter_ == 1
    np.testing.assert_array_equal(reg.coefs_[0], W)
    # the learning rate the network takes for sgd is learning_rate_init * k / 2: beyond a float for three targets
    reg = MLPRegressor(hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=1.5e308, max_iter=1)
    with pytest.raises(ValueError) as error:
        reg.fit(X, np.column_stack([y] * 3))
    assert str(error.value) == ("learning_rate_init=1.5e+308 is out of mlpext's range: the learning rate it gives "
                                "the network, learning_rate_init / 0.666667, is inf (it must be finite and > 0)")


def test_a_fit_that_raises_leaves_the_estimator_as_it_was():
    X, y = load_iris(return_X_y=True)
    labels = np.array(["a", "b", "c"])[y]
    clf = MLPClassifier(max_iter=5)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X, np.full(150, "a"))
    with pytest.raises(NotFittedError):
        clf.predict(X)
    assert not hasattr(clf, "classes_") and not hasattr(clf, "n_features_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    before = clf.predict(X)
    with pytest.raises(ValueError, match="only one class"):
        clf.fit(X[:, :3], np.full(150, "z"))  # other features, other classes: refused
    assert list(clf.classes_) == ["a", "b", "c"] and clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict(X), before)


def test_early_stopping_stratifies_two_classes_only():
    """As scikit-learn: its split is stratified for two classes, not for more (where a class with one sample
    would make a stratified split fail)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = np.array([0] * 60 + [1] * 39 + [2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(early_stopping=True, max_iter=5, random_state=0).fit(X, y)
    assert len(clf.validation_scores_) >= 1


@pytest.mark.parametrize("params, words", [
    (dict(activation=["relu"]), "activation must be one of"),
    (dict(validation_fraction=None), "validation_fraction must be in"),
    (dict(learning_rate_init=float("inf")), "learning_rate_init must be a finite real number > 0"),
    (dict(epsilon=0.0), "epsilon must be a finite real number > 0"),
    (dict(alpha=float("nan")), "alpha must be a finite real number >= 0"),
    # NumPy's timedelta64 is a signedinteger, so numbers.Integral and numbers.Real take it; bools are numbers too
    (dict(learning_rate_init=unitless_timedelta(1)), "learning_rate_init must be a finite real number > 0"),
    (dict(alpha=np.timedelta64(1, "s")), "alpha must be a finite real number >= 0"),
    (dict(momentum=True), "momentum must be a finite real number >= 0"),
    (dict(max_iter=unitless_timedelta(5)), "max_iter must be an int >= 1"),
    (dict(batch_size=unitless_timedelta(4)), "batch_size must be 'auto' or an int"),
    (dict(hidden_layer_sizes=(unitless_timedelta(3),)), "hidden_layer_sizes must contain only positive ints"),
    (dict(random_state=unitless_timedelta(3)), "random_state must be None, an int or a numpy.random.RandomState"),
])
def test_bad_parameters_are_value_errors_naming_them(params, words):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=words):
        MLPClassifier(**params).fit(X, y)


def test_matches_scikit_learn_accuracy(digits):
    from sklearn.neural_network import MLPClassifier as SkMLPClassifier

    X_train, X_test, y_train, y_test = digits
    params = dict(hidden_layer_sizes=(64,), batch_size=32, max_iter=40, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
        theirs = SkMLPClassifier(**params).fit(X_train, y_train).score(X_test, y_test)
    assert ours >= theirs - 0.02, (ours, theirs)


# ------------------------------------------------------------------------- the regressor's steps are scikit-learn's
@pytest.mark.parametrize("n_targets", [1, 3])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_regressor_sgd_step_is_scikit_learns(n_targets, momentum):
    # scikit-learn's squared loss ½·mean((ŷ − y)²) steps by W −= lr·(Xᵀ(ŷ − y) + alpha·W)/n (a linear model here,
    # one full batch an epoch); mlpext's mean((ŷ − y)²) over n·k values has 2/k of that gradient, which the
    # estimator's learning rate and weight decay make up for. Two epochs, by hand:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    y = rng.standard_normal((40, n_targets))
    y = y[:, 0] if n_targets == 1 else y
    lr, alpha = 0.05, 0.7
    reg = MLPRegressor(hidden_layer_sizes=(), solver="sgd", learning_rate_init=lr, alpha=alpha, momentum=momentum,
                       nesterovs_momentum=False, batch_size=40, shuffle=False, random_state=0)
    W0, b0 = (a.copy() for a in MLP([5, n_targets], activation="identity", seed=0, dtype=np.float64).params[0])
    reg.partial_fit(X, y)
    reg.partial_fit(X, y)
    W, b, vW, vb = W0.copy(), b0.copy(), np.zeros_like(W0), np.zeros_like(b0)
    Y = y.reshape(40, -1)
    losses = []
    for _ in range(2):
        E = X @ W + b - Y
        losses.append(0.5 * np.mean(E**2))
        gW, gb = (X.T @ E + alpha * W) / 40, (E.sum(0) + alpha * b) / 40  # mlpext decays the bias too
        vW, vb = momentum * vW + gW, momentum * vb + gb
        W, b = W - lr * vW, b - lr * vb
    np.testing.assert_allclose(reg.coefs_[0], W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(reg.intercepts_[0], b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(reg.loss_curve_, losses, rtol=1e-12)  # scikit-learn's scale of the loss


@pytest.mark.parametrize("n_targets", [1, 4])
def test_regressor_alpha_is_scikit_learns_ridge_penalty(n_targets):
    # A linear model trained to convergence on centred data lands where scikit-learn's does: Ridge(alpha) (before,
    # mlpext's went to Ridge(alpha·k/2): half the penalty for one target, twice it for four)
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 3))
    X -= X.mean(0)
    y = X @ rng.standard_normal((3, n_targets)) + 0.3 * rng.standard_normal((60, n_targets))
    y -= y.mean(0)
    alpha = 20.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(), alpha=alpha, batch_size=60, learning_rate_init=0.01,
                           max_iter=4000, tol=0, n_iter_no_change=10**6, random_state=0).fit(X, y)
    ridge = Ridge(alpha=alpha, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(reg.coefs_[0], np.reshape(ridge.coef_, (n_targets, 3)).T, atol=2e-3)


def test_a_diverged_fit_raises_as_scikit_learns_does():
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4)) * 1e4  # unscaled data, a large SGD step: the weights blow up
    y = X.sum(1)
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1.0, max_iter=50, random_state=0)
    message = "Solver produced non-finite parameter weights"
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(ValueError, match=message):
            SkMLPRegressor(**params).fit(X, y)
    reg = MLPRegressor(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # not "raise max_iter": it stopped at the first bad epoch
        with pytest.raises(ValueError, match=message):
            reg.fit(X, y)
    assert reg.n_iter_ < 50 and not np.isfinite(reg.loss_curve_[-1])
    assert np.isfinite(reg.loss_curve_[:-1]).all()



def _badly_scaled_regression():
    """One feature 300 times the others': SGD learns for a few epochs, then its steps blow up."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = X @ np.array([1.0, -2.0, 0.5, 3.0])
    X[:, 0] *= 300.0
    return X, y


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_early_stopping_keeps_the_best_weights_of_a_fit_that_diverges(dtype):
    # the validation score of a diverging network was r2_score() on its non-finite predictions, whose input check
    # raised "Input contains NaN" (float32: the predictions overflow before the loss does); now NaN, as
    # scikit-learn's _score_with_function (from 1.6 on), and the fit stops at the epoch whose loss is not finite,
    # keeping the weights of the best validation score, with a warning: scikit-learn's fit returns too (from 1.6
    # on; before, its r2_score raised as mlpext's did)
    import sklearn
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    X, y = (a.astype(dtype) for a in _badly_scaled_regression())
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e-4, max_iter=60, batch_size=180,
                  early_stopping=True, n_iter_no_change=100, random_state=0)  # (180 training rows: one batch)
    if tuple(int(part) for part in sklearn.__version__.split(".")[:2]) >= (1, 6):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            SkMLPRegressor(**params).fit(X, y)
    reg = MLPRegressor(**params, dtype=dtype)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg.fit(X, y)
    scores = np.array(reg.validation_scores_)
    n, best = reg.n_iter_, int(np.nanargmax(scores)) + 1
    assert [(w.category, str(w.message)) for w in caught] == [(
        ConvergenceWarning, f"Training diverged at epoch {n} (its loss is {reg.loss_}): stopped there, with the "
                            f"weights of epoch {best}, the best validation score.")]
    assert 2 < best < n < 60 and not np.isfinite(reg.loss_) and np.isfinite(reg.loss_curve_[:-1]).all()
    assert len(scores) == n and np.isnan(scores[-1]) and reg.best_validation_score_ == scores[best - 1]
    if dtype == "float32":
        assert np.isnan(scores[-2])  # the predictions overflowed an epoch before the loss
    # the weights are those of the best epoch: a fit stopped there has the same
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        stopped = MLPRegressor(**{**params, "max_iter": best}, dtype=dtype).fit(X, y)
    for W, W_best in zip(reg.coefs_ + reg.intercepts_, stopped.coefs_ + stopped.intercepts_):
        np.testing.assert_array_equal(W, W_best)
    np.testing.assert_array_equal(reg.predict(X), stopped.predict(X))


def test_early_stopping_counts_a_nan_validation_score_as_no_improvement():
    # float32, as above: epochs 5 to 8 do not improve on epoch 4's score, epoch 9's is NaN (its predictions
    # overflow), epoch 10's loss is inf. With n_iter_no_change=4, the NaN is the fifth epoch without improvement:
    # the fit stops there, without diverging (scikit-learn's comparison would reset the count on NaN)
    X, y = (a.astype(np.float32) for a in _badly_scaled_regression())
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1e-4, max_iter=60, batch_size=180,
                  early_stopping=True, random_state=0, dtype="float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        diverging = MLPRegressor(**params, n_iter_no_change=100).fit(X, y)
    assert diverging.n_iter_ == 10 and int(np.nanargmax(diverging.validation_scores_)) == 3
    assert np.isnan(diverging.validation_scores_[8]) and np.isfinite(diverging.loss_curve_[8])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = MLPRegressor(**params, n_iter_no_change=4).fit(X, y)
    assert reg.n_iter_ == 9 and np.isnan(reg.validation_scores_[-1]) and np.isfinite(reg.loss_)
    np.testing.assert_array_equal(reg.validation_scores_[:8], diverging.validation_scores_[:8])
    for W, W_best in zip(reg.coefs_, diverging.coefs_):
        np.testing.assert_array_equal(W, W_best)  # epoch 4's


def test_early_stopping_fit_diverging_in_its_first_epoch_raises():
    # no epoch's weights to keep: scikit-learn's ValueError, as without early stopping
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 4)) * 1e4
    reg = MLPRegressor(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1.0, batch_size=1,
                       early_stopping=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        with pytest.raises(ValueError, match="^Solver produced non-finite parameter weights"):
            reg.fit(X, X.sum(1))
    assert reg.n_iter_ == 1 and not np.isfinite(reg.loss_)
    assert len(reg.validation_scores_) == 1 and np.isnan(reg.validation_scores_[0])  # (one an epoch)


@pytest.mark.parametrize("Estimator", [MLPClassifier, MLPRegressor])
def test_early_stopping_on_named_features_scores_without_warnings(Estimator):
    # each epoch scores the validation split fit() made and checked already: scoring it through score() checked
    # it again, plain, against the feature names, and warned once an epoch
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True)
    frame = pd.DataFrame(X, columns=["sepal length", "sepal width", "petal length", "petal width"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = Estimator(hidden_layer_sizes=(8,), early_stopping=True, max_iter=15, random_state=0).fit(frame, y)
    assert list(est.feature_names_in_) == list(frame.columns)
    assert len(est.validation_scores_) == est.n_iter_ >= 2
    # the scores are score()'s on fit()'s validation split (its best one kept): the same split, made again
    y_net = y.reshape(-1, 1) if Estimator is MLPRegressor else y
    _, X_val, _, y_val = train_test_split(X, y_net, random_state=np.random.RandomState(est._seed), test_size=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (X_val has no feature names: here that is the point)
        assert est.score(X_val, y_val[:, 0] if Estimator is MLPRegressor else y_val) == est.best_validation_score_
    assert max(est.validation_scores_) == est.best_validation_score_


def test_warm_start_takes_the_shape_of_the_new_y():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = MLPRegressor(hidden_layer_sizes=(4,), warm_start=True, max_iter=3, random_state=0)
        assert reg.fit(X, y.reshape(-1, 1)).predict(X).shape == (60, 1)
        assert reg.fit(X, y).predict(X).shape == (60,)  # as its docstring says: y's shape at fit time
        assert reg.fit(X, y.reshape(-1, 1)).predict(X).shape == (60, 1)
        reg.partial_fit(X, y)  # partial_fit goes on with the output shape of the network's first call
        assert reg.predict(X).shape == (60, 1)

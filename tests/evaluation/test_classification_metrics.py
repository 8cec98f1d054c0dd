import csv
import logging
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
import torch.multiprocessing as mp
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger

from vidft.evaluation.metrics.confusion_matrix import plot_confusion_matrix
from vidft.registry import METRICS
from vidft.structures import VideoDataSample

# The samples of test_classification_functions.py, with hand-computed
# results: top-1 0.4, top-2 0.8, mean class accuracy 0.5.
SCORES = np.array([
    [0.1, 0.6, 0.2, 0.1],
    [0.5, 0.1, 0.3, 0.1],
    [0.2, 0.2, 0.2, 0.4],
    [0.3, 0.3, 0.2, 0.2],
    [0.7, 0.1, 0.1, 0.1],
], dtype=np.float32)
LABELS = [1, 2, 2, 1, 0]
CLASSES = ('walk', 'run', 'jump', 'swim')


def make_samples(indices):
    return [
        VideoDataSample(pred_score=torch.from_numpy(SCORES[i]),
                        gt_label=torch.tensor([LABELS[i]]))
        for i in indices
    ]


def evaluate(metric_cfg, indices=range(5), batch_size=2, dataset_meta=None):
    evaluator = Evaluator(METRICS.build(metric_cfg))
    evaluator.dataset_meta = dataset_meta
    indices = list(indices)
    for start in range(0, len(indices), batch_size):
        evaluator.process(make_samples(indices[start:start + batch_size]))
    return evaluator, evaluator.evaluate(len(indices))


def test_accuracy_metric_hand_computed():
    _, result = evaluate(dict(type='AccuracyMetric', topk=(1, 2)))
    assert set(result) == {'acc/top1', 'acc/top2', 'acc/mean_class_accuracy'}
    assert result['acc/top1'] == pytest.approx(0.4)
    assert result['acc/top2'] == pytest.approx(0.8)
    assert result['acc/mean_class_accuracy'] == pytest.approx(0.5)


def test_accuracy_metric_int_topk_and_prefix():
    _, result = evaluate(dict(type='AccuracyMetric', topk=3, prefix='val'))
    assert set(result) == {'val/top3', 'val/mean_class_accuracy'}
    assert result['val/top3'] == pytest.approx(0.8)


def test_accuracy_metric_k_above_classes_raises():
    with pytest.raises(ValueError, match='at most the number of classes'):
        evaluate(dict(type='AccuracyMetric', topk=(1, 5)))


def test_accuracy_metric_k_equal_classes_warns():
    # MMLogger does not propagate to the root logger, so pytest's caplog
    # misses it. A handler on the logger itself receives the record.
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        _, result = evaluate(dict(type='AccuracyMetric', topk=(1, 4)))
    finally:
        logger.removeHandler(handler)
    assert result['acc/top4'] == 1.0
    messages = [record.getMessage() for record in records]
    assert any('top-4 accuracy is 1.0 for any model' in m for m in messages)


def test_accuracy_metric_rejects_multi_hot_labels():
    metric = METRICS.build(dict(type='AccuracyMetric', topk=(1, )))
    sample = dict(pred_score=torch.rand(4), gt_label=torch.tensor([0, 1, 1, 0]))
    with pytest.raises(ValueError, match='multi-label'):
        metric.process({}, [sample])


def test_accuracy_metric_missing_score_names_key():
    metric = METRICS.build(dict(type='AccuracyMetric', topk=(1, )))
    with pytest.raises(KeyError, match='pred_score'):
        metric.process({}, [dict(gt_label=torch.tensor([0]))])


def test_confusion_matrix_saves_files(tmp_path):
    evaluator, result = evaluate(
        dict(type='ConfusionMatrix', out_dir=str(tmp_path)),
        dataset_meta=dict(classes=CLASSES))
    assert result == {}
    metric = evaluator.metrics[0]
    expected = [[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 0, 1], [0, 0, 0, 0]]
    assert metric.matrix.tolist() == expected

    png = tmp_path / 'confusion_matrix.png'
    assert png.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    with open(tmp_path / 'confusion_matrix.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert rows[0][1:] == list(CLASSES)
    assert [row[0] for row in rows[1:]] == list(CLASSES)
    assert [[int(v) for v in row[1:]] for row in rows[1:]] == expected


def test_confusion_matrix_figure_has_class_names(tmp_path):
    matrix = np.array([[3, 1], [0, 2]])
    figure = plot_confusion_matrix(matrix, ['left', 'right'],
                                   str(tmp_path / 'cm.png'))
    axes = figure.axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ['left', 'right']
    assert [t.get_text() for t in axes.get_yticklabels()] == ['left', 'right']
    assert (tmp_path / 'cm.png').stat().st_size > 0


def test_confusion_matrix_defaults_to_run_log_dir(tmp_path):
    log_dir = tmp_path / 'work' / '20240101_000000'
    log_dir.mkdir(parents=True)
    MMLogger.get_instance('test_confusion_matrix_log_dir',
                          log_file=str(log_dir / '20240101_000000.log'))
    evaluate(dict(type='ConfusionMatrix', filename='cm_val'))
    assert (log_dir / 'cm_val.png').is_file()
    assert (log_dir / 'cm_val.csv').is_file()


def test_confusion_matrix_class_count_mismatch_raises(tmp_path):
    with pytest.raises(ValueError, match="metainfo\\['classes'\\]"):
        evaluate(dict(type='ConfusionMatrix', out_dir=str(tmp_path)),
                 dataset_meta=dict(classes=('a', 'b')))


@pytest.mark.parametrize('kwargs, match', [
    (dict(normalize='rows'), 'normalize'),
    (dict(num_classes=0), 'num_classes'),
    (dict(filename='dir/cm'), 'without folders'),
])
def test_confusion_matrix_invalid_args(kwargs, match):
    with pytest.raises(ValueError, match=match):
        METRICS.build(dict(type='ConfusionMatrix', **kwargs))


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _distributed_worker(rank, world_size, port, out_root, queue):
    torch_dist.init_process_group('gloo',
                                  init_method=f'tcp://127.0.0.1:{port}',
                                  rank=rank, world_size=world_size)
    try:
        # mmengine's DefaultSampler pads 5 samples to 6 for two ranks by
        # repeating sample 0, and deals indices round-robin.
        padded = [0, 1, 2, 3, 4, 0]
        evaluator = Evaluator([
            METRICS.build(dict(type='AccuracyMetric', topk=(1, 2))),
            METRICS.build(dict(type='ConfusionMatrix',
                               out_dir=os.path.join(out_root,
                                                    f'rank{rank}'))),
        ])
        evaluator.process(make_samples(padded[rank::world_size]))
        result = evaluator.evaluate(5)
        queue.put((rank, result, evaluator.metrics[1].matrix))
    finally:
        torch_dist.destroy_process_group()


@pytest.mark.slow
def test_metrics_reduce_over_ranks(tmp_path):
    context = mp.get_context('spawn')
    queue = context.SimpleQueue()
    mp.start_processes(_distributed_worker,
                       args=(2, _free_port(), str(tmp_path), queue),
                       nprocs=2, start_method='spawn')
    outputs = sorted(queue.get() for _ in range(2))

    for rank, result, _ in outputs:
        # Equal to the single-process values: the padded repeat of sample 0
        # (a correct top-1 prediction) is dropped before computing.
        assert result['acc/top1'] == pytest.approx(0.4), rank
        assert result['acc/top2'] == pytest.approx(0.8), rank
        assert result['acc/mean_class_accuracy'] == pytest.approx(0.5), rank
    assert outputs[0][2].sum() == 5
    assert (tmp_path / 'rank0' / 'confusion_matrix.png').is_file()
    assert not (tmp_path / 'rank1').exists()

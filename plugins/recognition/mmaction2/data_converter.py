"""Convert mmaction2 data pipelines, datasets, dataloaders and evaluators."""
from typing import Any, Callable, Dict, List, Optional, Tuple

Report = Callable[[str, Any, str], None]

# mmaction2 transform -> (vidft transform, options carried over unchanged).
SAME_OPTIONS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    'SampleFrames': ('SampleFrames', ('clip_len', 'frame_interval',
                                      'num_clips', 'test_mode',
                                      'out_of_bound_opt')),
    'Resize': ('Resize', ('scale', 'keep_ratio', 'interpolation')),
    'RandomResizedCrop': ('RandomResizedCrop', ('area_range',
                                                'aspect_ratio_range')),
    'MultiScaleCrop': ('recognition.MultiScaleCrop', (
        'input_size', 'scales', 'max_wh_scale_gap', 'random_crop',
        'num_fixed_crops')),
    'CenterCrop': ('CenterCrop', ('crop_size', )),
    'ThreeCrop': ('ThreeCrop', ('crop_size', )),
    'TenCrop': ('TenCrop', ('crop_size', )),
    'Flip': ('Flip', ('flip_ratio', 'direction', 'flip_label_map')),
    'FormatShape': ('FormatShape', ('input_format', 'collapse')),
    'PackActionInputs': ('PackVideoInputs', ('meta_keys', )),
    'DecordDecode': ('VideoDecode', ()),
    'PyAVDecode': ('VideoDecode', ()),
    'OpenCVDecode': ('VideoDecode', ()),
}
# Video readers: mmaction2 init transform -> vidft backend.
VIDEO_INITS = {'DecordInit': 'pyav', 'PyAVInit': 'pyav',
               'OpenCVInit': 'opencv'}
# Options of DenseSampleFrames that SampleFrames lacks.
DENSE_SAMPLING_OPTIONS = ('sample_range', 'num_sample_positions')
# Options whose effect vidft keeps by other means or that only concern I/O.
IGNORED_OPTIONS = {'io_backend', 'file_client_args', 'num_threads',
                   'mode', 'multi_thread', 'lazy'}

DATASET_TYPES = {'VideoDataset': 'recognition.VideoDataset',
                 'RawframeDataset': 'recognition.RawframeDataset'}
DATASET_OPTIONS = ('ann_file', 'data_prefix', 'data_root', 'test_mode',
                   'num_classes', 'multi_class', 'start_index',
                   'with_offset', 'metainfo')
DATASET_IGNORED = ('filename_tmpl', 'modality', 'pipeline')

METRIC_TYPES = ('AccMetric', )


def convert_transform(step: Dict[str, Any], where: str, skipped: Report,
                      filename_tmpl: Optional[str] = None
                      ) -> Optional[Dict[str, Any]]:
    """Convert one pipeline step, or return None when it has no vidft
    counterpart (and report it)."""
    step_type = step.get('type')
    options = {k: v for k, v in step.items() if k != 'type'}
    if step_type in VIDEO_INITS:
        converted = dict(type='VideoInit', backend=VIDEO_INITS[step_type])
        carried: Tuple[str, ...] = ()
        if step_type == 'DecordInit':
            skipped(where, step_type, "videos are read with PyAV; set "
                    "backend='decord' where decord is installed")
    elif step_type == 'RawFrameDecode':
        converted = dict(type='RawFrameDecode')
        if filename_tmpl is not None:
            converted['filename_tmpl'] = filename_tmpl
        carried = ()
    elif step_type == 'DenseSampleFrames':
        # Keeps the pipeline runnable: frames are still sampled, but spread
        # over the whole video instead of a dense window.
        skipped(where, step_type, 'replaced by SampleFrames with the same '
                'clip_len, frame_interval and num_clips')
        converted = dict(type='SampleFrames')
        carried = SAME_OPTIONS['SampleFrames'][1]
        options = {k: v for k, v in options.items()
                   if k not in DENSE_SAMPLING_OPTIONS}
    elif step_type in SAME_OPTIONS:
        name, carried = SAME_OPTIONS[step_type]
        converted = dict(type=name)
    else:
        skipped(f'{where}', step_type, 'no vidft transform of that kind; '
                'the step is left out')
        return None

    for key, value in options.items():
        if key in carried:
            converted[key] = list(value) if isinstance(value, tuple) \
                else value
        elif key not in IGNORED_OPTIONS:
            skipped(f'{where}.{key}', value,
                    f"{converted['type']} has no such option")
    return converted


def convert_pipeline(pipeline: List[Dict[str, Any]], where: str,
                     skipped: Report,
                     filename_tmpl: Optional[str] = None
                     ) -> List[Dict[str, Any]]:
    """Convert a list of pipeline steps; unknown steps are left out."""
    converted = []
    for index, step in enumerate(pipeline):
        new_step = convert_transform(step, f'{where}[{index}]', skipped,
                                     filename_tmpl)
        if new_step is not None:
            converted.append(new_step)
    return converted


def convert_dataset(dataset: Dict[str, Any], where: str,
                    skipped: Report) -> Dict[str, Any]:
    """Convert a ``VideoDataset`` or ``RawframeDataset`` config."""
    dataset_type = dataset.get('type')
    if dataset_type not in DATASET_TYPES:
        raise ValueError(
            f'expected {where}.type in {sorted(DATASET_TYPES)}, got '
            f'{dataset_type!r}; convert other datasets by hand')
    converted: Dict[str, Any] = dict(type=DATASET_TYPES[dataset_type])
    for key in DATASET_OPTIONS:
        if key in dataset:
            converted[key] = dataset[key]
    for key in sorted(set(dataset) - set(DATASET_OPTIONS)
                      - set(DATASET_IGNORED) - {'type'}):
        skipped(f'{where}.{key}', dataset[key],
                f'{converted["type"]} has no such option')
    if dataset_type == 'RawframeDataset' and \
            dataset.get('modality', 'RGB') != 'RGB':
        skipped(f'{where}.modality', dataset['modality'],
                'vidft reads RGB frames only')

    # mmaction2 keeps the rawframe name template on the dataset, vidft on
    # RawFrameDecode.
    filename_tmpl = dataset.get('filename_tmpl') \
        if dataset_type == 'RawframeDataset' else None
    converted['pipeline'] = convert_pipeline(
        dataset.get('pipeline', []), f'{where}.pipeline', skipped,
        filename_tmpl)
    return converted


def convert_dataloader(dataloader: Optional[Dict[str, Any]], where: str,
                       skipped: Report) -> Optional[Dict[str, Any]]:
    """Convert a dataloader config; the sampler and loader options are
    mmengine's and carry over unchanged."""
    if not dataloader:
        return None
    converted = {k: v for k, v in dataloader.items() if k != 'dataset'}
    converted['dataset'] = convert_dataset(dataloader['dataset'],
                                           f'{where}.dataset', skipped)
    return converted


def convert_evaluator(evaluator: Any, where: str,
                      skipped: Report) -> Optional[Dict[str, Any]]:
    """Convert ``AccMetric`` to ``AccuracyMetric`` (top-k accuracy)."""
    if not evaluator:
        return None
    if isinstance(evaluator, (list, tuple)):
        if len(evaluator) != 1:
            for extra in evaluator[1:]:
                skipped(where, extra.get('type'),
                        'only the first evaluator is converted')
        evaluator = evaluator[0]
    if evaluator.get('type') not in METRIC_TYPES:
        skipped(f'{where}.type', evaluator.get('type'),
                'no vidft metric of that kind; AccuracyMetric is used')
        return dict(type='AccuracyMetric')
    options = evaluator.get('metric_options') or {}
    topk = (options.get('top_k_accuracy') or {}).get('topk', (1, 5))
    metrics = evaluator.get('metric_list', ('top_k_accuracy',
                                            'mean_class_accuracy'))
    for metric in metrics:
        if metric not in ('top_k_accuracy', 'mean_class_accuracy'):
            skipped(f'{where}.metric_list', metric,
                    'AccuracyMetric measures top-k and mean class accuracy '
                    'only')
    return dict(type='AccuracyMetric', topk=list(topk))

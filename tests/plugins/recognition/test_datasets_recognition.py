import os

import av
import cv2
import numpy as np
import pytest
import torch

from vidft_recognition.datasets import RawframeDataset, VideoDataset
from vidft_recognition.datasets.ann_formats import detect_format

VIDEO_PIPELINE = [
    dict(type='VideoInit'),
    dict(type='SampleFrames', clip_len=1, num_clips=2, test_mode=True),
    dict(type='VideoDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]
RAWFRAME_PIPELINE = [
    dict(type='SampleFrames', clip_len=1, num_clips=2, test_mode=True),
    dict(type='RawFrameDecode'),
    dict(type='FormatShape', input_format='NCHW'),
    dict(type='PackVideoInputs'),
]


def write_video(path, grey, num_frames=6, size=(32, 24)):
    """Write a video whose every frame has the grey level ``grey``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    width, height = size
    with av.open(path, 'w', format='mp4') as container:
        stream = container.add_stream('mpeg4', rate=10)
        stream.width, stream.height, stream.pix_fmt = width, height, 'yuv420p'
        for index in range(num_frames):
            frame = av.VideoFrame.from_ndarray(
                np.full((height, width, 3), grey, np.uint8), format='rgb24')
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def mean_grey(sample):
    return float(sample['inputs'].float().mean())


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


@pytest.fixture(scope='module')
def videos(tmp_path_factory):
    """Three videos with distinct grey levels, by name."""
    root = tmp_path_factory.mktemp('videos')
    levels = {'walk.mp4': 40, 'run.mp4': 120, 'jump.mp4': 200}
    for name, grey in levels.items():
        write_video(str(root / name), grey)
    return root, levels


def test_list_format(videos, tmp_path):
    root, levels = videos
    ann_file = tmp_path / 'train.txt'
    write(str(ann_file), 'walk.mp4 0\nrun.mp4 1\n\njump.mp4 2\n')
    dataset = VideoDataset(str(ann_file), VIDEO_PIPELINE,
                           data_prefix=str(root), ann_format='list',
                           num_classes=3)
    assert len(dataset) == 3
    assert dataset.get_data_info(1)['filename'] == str(root / 'run.mp4')
    sample = dataset[2]
    assert sample['inputs'].shape == (2, 3, 24, 32)
    assert int(sample['data_samples'].gt_label) == 2
    assert mean_grey(sample) == pytest.approx(levels['jump.mp4'], abs=3)


def test_empty_annotation_file_raises(tmp_path):
    ann_file = tmp_path / 'empty.txt'
    write(str(ann_file), '\n')
    with pytest.raises(ValueError, match='empty.txt lists no samples'):
        VideoDataset(str(ann_file), VIDEO_PIPELINE, ann_format='list',
                     num_classes=3)


def test_list_label_map_sets_classes(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 1\n')
    write(str(tmp_path / 'classes.txt'), 'walking\nrunning\n')
    dataset = VideoDataset('train.txt', VIDEO_PIPELINE, data_prefix=str(root),
                           data_root=str(tmp_path), label_map='classes.txt')
    assert dataset.metainfo['classes'] == ('walking', 'running')


def test_label_map_outside_classes_rejected(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 1\njump.mp4 2\n')
    pipeline = VIDEO_PIPELINE[:3] + [
        dict(type='ReverseFrameOrder', prob=0.5, label_map={1: 2, 3: 4})
    ] + VIDEO_PIPELINE[3:]

    with pytest.raises(ValueError) as info:
        VideoDataset(str(tmp_path / 'train.txt'), pipeline,
                     data_prefix=str(root), ann_format='list', num_classes=3)

    message = str(info.value)
    assert 'ReverseFrameOrder.label_map maps class 3 to 4' in message
    assert 'train.txt has 3 classes (0 to 2)' in message
    assert 'remove it from the pipeline' in message


def test_label_map_class_names_resolved(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 1\n')
    write(str(tmp_path / 'classes.txt'), 'walking\nrunning\n')
    flip = dict(type='Flip', flip_ratio=1.0,
                flip_label_map={'walking': 'running'})

    dataset = VideoDataset('train.txt', VIDEO_PIPELINE[:3] + [flip] +
                           VIDEO_PIPELINE[3:], data_prefix=str(root),
                           data_root=str(tmp_path), label_map='classes.txt')

    assert dataset.pipeline.transforms[3].flip_label_map == {0: 1}
    assert int(dataset[0]['data_samples'].gt_label) == 1


@pytest.mark.parametrize('label_map, message', [
    ('classes.txt', "names the class 'pan_left', which is not a class of"),
    (None, "names classes ('pan_left'), but"),
])
def test_label_map_unknown_names_rejected(videos, tmp_path, label_map,
                                          message):
    from vidft.data.transforms import LabelMapError

    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 1\n')
    write(str(tmp_path / 'classes.txt'), 'walking\nrunning\n')
    flip = dict(type='Flip', flip_label_map={'pan_left': 'pan_right'})

    with pytest.raises(LabelMapError, match=message.replace('(', '\\(')
                       .replace(')', '\\)')):
        VideoDataset('train.txt', VIDEO_PIPELINE[:3] + [flip] +
                     VIDEO_PIPELINE[3:], data_prefix=str(root),
                     data_root=str(tmp_path), label_map=label_map,
                     num_classes=2)


def test_label_map_turns_logged_by_name(videos, tmp_path, monkeypatch):
    from vidft_recognition.datasets import video_dataset

    logged = []
    monkeypatch.setattr(video_dataset, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 1\n')
    write(str(tmp_path / 'classes.txt'), 'walking\nrunning\n')
    pipeline = VIDEO_PIPELINE[:3] + [
        dict(type='Flip', flip_ratio=0.5, flip_label_map={0: 1})
    ] + VIDEO_PIPELINE[3:]

    VideoDataset('train.txt', pipeline, data_prefix=str(root),
                 data_root=str(tmp_path), label_map='classes.txt')

    assert (f"{tmp_path / 'train.txt'}: Flip.flip_label_map turns "
            "'walking' into 'running'") in logged


def test_csv_format_with_class_names(videos, tmp_path):
    root, levels = videos
    write(str(tmp_path / 'labels.csv'),
          'path,label,comment\nrun.mp4,running,x\nwalk.mp4,walking,y\n')
    write(str(tmp_path / 'classes.txt'), 'walking\nrunning\n')
    dataset = VideoDataset(str(tmp_path / 'labels.csv'), VIDEO_PIPELINE,
                           data_prefix=str(root), ann_format='csv',
                           label_map=str(tmp_path / 'classes.txt'))
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [1, 0]
    assert mean_grey(dataset[0]) == pytest.approx(levels['run.mp4'], abs=3)


def test_kinetics_format(tmp_path):
    write_video(str(tmp_path / 'clips' / 'abc_000010_000020.mp4'), 90)
    write_video(str(tmp_path / 'clips' / 'xyz_000000_000010.mp4'), 160)
    write(str(tmp_path / 'k.csv'),
          'label,youtube_id,time_start,time_end,split\n'
          'riding,abc,10,20,train\nabseiling,xyz,0,10,train\n')
    write(str(tmp_path / 'classes.txt'), 'abseiling\nriding\n')
    dataset = VideoDataset(str(tmp_path / 'k.csv'), VIDEO_PIPELINE,
                           data_prefix=str(tmp_path / 'clips'),
                           ann_format='kinetics',
                           label_map=str(tmp_path / 'classes.txt'))
    assert [dataset.get_data_info(i)['label'] for i in range(2)] == [1, 0]
    assert mean_grey(dataset[0]) == pytest.approx(90, abs=3)


def test_kinetics_filename_template_option(tmp_path):
    write_video(str(tmp_path / 'riding' / 'abc.mp4'), 90)
    write(str(tmp_path / 'k.csv'),
          'label,youtube_id,time_start,time_end,split\nriding,abc,1,2,val\n')
    dataset = VideoDataset(
        str(tmp_path / 'k.csv'), VIDEO_PIPELINE, data_prefix=str(tmp_path),
        ann_format='kinetics',
        ann_options=dict(filename_tmpl='{label}/{youtube_id}.mp4'))
    assert dataset.get_data_info(0)['filename'] == str(
        tmp_path / 'riding' / 'abc.mp4')
    assert mean_grey(dataset[0]) == pytest.approx(90, abs=3)


def test_folder_format_derives_classes(tmp_path):
    write_video(str(tmp_path / 'root' / 'wave' / 'a.mp4'), 50)
    write_video(str(tmp_path / 'root' / 'clap' / 'sub' / 'b.mp4'), 150)
    dataset = VideoDataset(str(tmp_path / 'root'), VIDEO_PIPELINE,
                           ann_format='folder')
    assert dataset.metainfo['classes'] == ('clap', 'wave')
    infos = [dataset.get_data_info(i) for i in range(2)]
    assert [info['label'] for info in infos] == [0, 1]
    assert mean_grey(dataset[0]) == pytest.approx(150, abs=3)


def test_folder_format_rejects_prefix(tmp_path):
    with pytest.raises(ValueError, match="ann_format='folder'"):
        VideoDataset(str(tmp_path), VIDEO_PIPELINE, ann_format='folder',
                     data_prefix='videos')


def test_ucf101_format(tmp_path):
    prefix = tmp_path / 'UCF-101'
    write_video(str(prefix / 'ApplyLipstick' / 'v_a.mp4'), 60)
    write_video(str(prefix / 'Archery' / 'v_b.mp4'), 180)
    write(str(tmp_path / 'splits' / 'classInd.txt'),
          '1 ApplyLipstick\n2 Archery\n')
    write(str(tmp_path / 'splits' / 'trainlist01.txt'),
          'ApplyLipstick/v_a.mp4 1\nArchery/v_b.mp4 2\n')
    write(str(tmp_path / 'splits' / 'testlist01.txt'), 'Archery/v_b.mp4\n')

    train = VideoDataset(str(tmp_path / 'splits' / 'trainlist01.txt'),
                         VIDEO_PIPELINE, data_prefix=str(prefix),
                         ann_format='ucf101')
    assert train.metainfo['classes'] == ('ApplyLipstick', 'Archery')
    assert [train.get_data_info(i)['label'] for i in range(2)] == [0, 1]
    test = VideoDataset(str(tmp_path / 'splits' / 'testlist01.txt'),
                        VIDEO_PIPELINE, data_prefix=str(prefix),
                        test_mode=True)
    assert len(test) == 1
    assert test.get_data_info(0)['label'] == 1
    assert mean_grey(test[0]) == pytest.approx(180, abs=3)


def test_hmdb51_format_subset_follows_test_mode(tmp_path):
    prefix = tmp_path / 'videos'
    for name, grey in (('brush_hair/a.avi', 30), ('brush_hair/b.avi', 70),
                       ('cartwheel/c.avi', 110), ('cartwheel/d.avi', 230)):
        write_video(str(prefix / name), grey)
    splits = tmp_path / 'splits'
    write(str(splits / 'brush_hair_test_split1.txt'), 'a.avi 1\nb.avi 2\n')
    write(str(splits / 'cartwheel_test_split1.txt'), 'c.avi 2\nd.avi 1\n')
    write(str(splits / 'cartwheel_test_split2.txt'), 'c.avi 1\nd.avi 2\n')

    train = VideoDataset(str(splits), VIDEO_PIPELINE, data_prefix=str(prefix),
                         ann_format='hmdb51')
    test = VideoDataset(str(splits), VIDEO_PIPELINE, data_prefix=str(prefix),
                        test_mode=True)
    assert train.metainfo['classes'] == ('brush_hair', 'cartwheel')
    assert [train.get_data_info(i)['filename'] for i in range(2)] == [
        str(prefix / 'brush_hair/a.avi'), str(prefix / 'cartwheel/d.avi')]
    assert [test.get_data_info(i)['label'] for i in range(2)] == [0, 1]
    assert mean_grey(test[1]) == pytest.approx(110, abs=3)


def test_hmdb51_split_option(tmp_path):
    splits = tmp_path / 'splits'
    write(str(splits / 'wave_test_split1.txt'), 'a.avi 1\n')
    write(str(splits / 'wave_test_split2.txt'), 'a.avi 2\nb.avi 1\n')
    dataset = VideoDataset(str(splits), VIDEO_PIPELINE, ann_format='hmdb51',
                           ann_options=dict(split=2), lazy_init=False)
    assert [dataset.get_data_info(0)['filename']] == ['wave/b.avi']


@pytest.mark.parametrize('files, expected', [
    ({'list.txt': 'a.mp4 0\n'}, 'list'),
    ({'labels.csv': 'path,label\na.mp4,0\n'}, 'csv'),
    ({'k.csv': 'label,youtube_id,time_start,time_end,split\n'}, 'kinetics'),
    ({'trainlist01.txt': 'A/a.avi 1\n'}, 'ucf101'),
    ({'testlist03.txt': 'A/a.avi\n'}, 'ucf101'),
])
def test_detect_format_files(tmp_path, files, expected):
    for name, text in files.items():
        write(str(tmp_path / name), text)
    assert detect_format(str(tmp_path / next(iter(files)))) == expected


def test_detect_format_folders(tmp_path):
    write(str(tmp_path / 'hmdb' / 'wave_test_split1.txt'), 'a.avi 1\n')
    (tmp_path / 'tree' / 'wave').mkdir(parents=True)
    assert detect_format(str(tmp_path / 'hmdb')) == 'hmdb51'
    assert detect_format(str(tmp_path / 'tree')) == 'folder'


def test_rawframe_dataset(tmp_path):
    # Frames 1..4 of each folder have grey levels 10, 20, 30, 40 (+ offset).
    for folder, offset in (('clip_a', 0), ('clip_b', 100)):
        for index in range(1, 5):
            path = tmp_path / 'frames' / folder / f'img_{index:05d}.jpg'
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), np.full((12, 16, 3), offset + 10 * index,
                                           np.uint8))
    write(str(tmp_path / 'rawframes.txt'), 'clip_a 4 1\nclip_b 4 0\n')
    dataset = RawframeDataset(str(tmp_path / 'rawframes.txt'),
                              RAWFRAME_PIPELINE,
                              data_prefix=str(tmp_path / 'frames'),
                              num_classes=2)
    info = dataset.get_data_info(1)
    assert info['frame_dir'] == str(tmp_path / 'frames' / 'clip_b')
    assert info['total_frames'] == 4
    assert info['start_index'] == 1
    sample = dataset[1]
    # Two test segments of 4 frames take frames 1 and 3 (0-based), which
    # are img_00002.jpg and img_00004.jpg: grey 120 and 140.
    frame_means = sample['inputs'].float().mean(dim=(1, 2, 3))
    assert frame_means.tolist() == pytest.approx([120, 140], abs=2)
    assert int(sample['data_samples'].gt_label) == 0


def test_rawframe_dataset_with_offset(tmp_path):
    write(str(tmp_path / 'rawframes.txt'), 'clip_a 5 8 1\n')
    dataset = RawframeDataset(str(tmp_path / 'rawframes.txt'),
                              RAWFRAME_PIPELINE, with_offset=True)
    info = dataset.get_data_info(0)
    assert info['start_index'] == 5
    assert info['total_frames'] == 8


def test_rawframe_rejects_video_prefix(tmp_path):
    with pytest.raises(ValueError, match='dict\\(img=...\\)'):
        RawframeDataset('list.txt', RAWFRAME_PIPELINE,
                        data_prefix=dict(video='x'))


def test_multi_class_labels_become_one_hot(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0 2\nrun.mp4 1\n')
    dataset = VideoDataset(str(tmp_path / 'train.txt'), VIDEO_PIPELINE,
                           data_prefix=str(root), multi_class=True,
                           num_classes=3)
    assert dataset.get_data_info(0)['label'].tolist() == [1.0, 0.0, 1.0]
    assert torch.equal(dataset[1]['data_samples'].gt_label,
                       torch.tensor([0.0, 1.0, 0.0]))


def test_several_labels_need_multi_class(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0 2\n')
    with pytest.raises(ValueError, match='multi_class=True'):
        VideoDataset(str(tmp_path / 'train.txt'), VIDEO_PIPELINE,
                     data_prefix=str(root))


def test_label_out_of_range_names_sample(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\nrun.mp4 3\n')
    with pytest.raises(ValueError, match=r'sample 1 .*run.mp4.* label 3'):
        VideoDataset(str(tmp_path / 'train.txt'), VIDEO_PIPELINE,
                     data_prefix=str(root), num_classes=3)


def test_label_map_must_match_num_classes(tmp_path):
    write(str(tmp_path / 'classes.txt'), 'a\nb\n')
    with pytest.raises(ValueError, match='expected 3 classes'):
        VideoDataset('train.txt', VIDEO_PIPELINE,
                     label_map=str(tmp_path / 'classes.txt'), num_classes=3)


def test_unknown_ann_option_lists_valid_ones(videos, tmp_path):
    root, _ = videos
    write(str(tmp_path / 'train.txt'), 'walk.mp4 0\n')
    with pytest.raises(TypeError, match="not options of the 'list' format"):
        VideoDataset(str(tmp_path / 'train.txt'), VIDEO_PIPELINE,
                     data_prefix=str(root), ann_options=dict(split=2))


def test_unknown_ann_format_raises():
    with pytest.raises(ValueError, match='expected ann_format in'):
        VideoDataset('train.txt', VIDEO_PIPELINE, ann_format='json')

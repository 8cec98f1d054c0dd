"""Annotation parsers: parsed samples and errors that name file and line."""
import os
import re

import pytest

from vidft.data.annotations import (AnnotationError, load_csv,
                                    load_folder_tree, load_hmdb51_split,
                                    load_kinetics_csv, load_label_map,
                                    load_rawframe_list, load_ucf101_split,
                                    load_video_list)


def write(path, text: str) -> str:
    path.write_text(text, encoding='utf-8')
    return str(path)


def test_label_map(tmp_path):
    path = write(tmp_path / 'classes.txt', 'abseiling\nair drumming\n\n')
    assert load_label_map(path) == ['abseiling', 'air drumming']


def test_label_map_duplicate_names_line(tmp_path):
    path = write(tmp_path / 'classes.txt', 'a\nb\na\n')
    with pytest.raises(AnnotationError) as info:
        load_label_map(path)
    assert info.value.line == 3
    assert 'line 1' in str(info.value)


def test_video_list_single_and_multi_label(tmp_path):
    path = write(tmp_path / 'train.txt',
                 'a/x.mp4 3\n\nb/y.mp4 0 4 7\n')
    samples = load_video_list(path, data_prefix='/data')
    assert samples == [
        dict(filename='/data/a/x.mp4', label=3),
        dict(filename='/data/b/y.mp4', label=[0, 4, 7]),
    ]


@pytest.mark.parametrize('text, line, message', [
    ('a.mp4 1\nb.mp4\n', 2, 'at least one label'),
    ('a.mp4 one\n', 1, 'integer'),
    ('a.mp4 -1\n', 1, '>= 0'),
])
def test_video_list_errors_name_line(tmp_path, text, line, message):
    path = write(tmp_path / 'list.txt', text)
    with pytest.raises(AnnotationError, match=message) as info:
        load_video_list(path)
    assert info.value.path == path
    assert info.value.line == line
    assert f'{path}, line {line}' in str(info.value)


def test_missing_file_raises(tmp_path):
    with pytest.raises(AnnotationError, match='cannot read'):
        load_video_list(str(tmp_path / 'missing.txt'))


def test_rawframe_list(tmp_path):
    path = write(tmp_path / 'frames.txt', 'v1 120 2\nv2 64 1 3\n')
    assert load_rawframe_list(path, data_prefix='rawframes') == [
        dict(frame_dir='rawframes/v1', total_frames=120, label=2),
        dict(frame_dir='rawframes/v2', total_frames=64, label=[1, 3]),
    ]


def test_rawframe_list_with_offset(tmp_path):
    path = write(tmp_path / 'frames.txt', 'v1 5 120 2\n')
    assert load_rawframe_list(path, with_offset=True) == [
        dict(frame_dir='v1', start_index=5, total_frames=120, label=2)
    ]


def test_rawframe_list_errors(tmp_path):
    path = write(tmp_path / 'frames.txt', 'v1 120 2\nv2 0 1\nv3 7\n')
    with pytest.raises(AnnotationError, match='total_frames >= 1') as info:
        load_rawframe_list(path)
    assert info.value.line == 2
    path = write(tmp_path / 'short.txt', 'v3 7\n')
    with pytest.raises(AnnotationError, match='<frame_dir> <total_frames>'):
        load_rawframe_list(path)


def test_csv_with_indices_and_names(tmp_path):
    path = write(tmp_path / 'ann.csv',
                 'path,label,comment\na.mp4,2,x\n"b, c.mp4",dog,y\n\n')
    samples = load_csv(path, data_prefix='videos', classes=['cat', 'dog'])
    assert samples == [
        dict(filename='videos/a.mp4', label=2),
        dict(filename='videos/b, c.mp4', label=1),
    ]


def test_csv_errors(tmp_path):
    path = write(tmp_path / 'ann.csv', 'file,label\na.mp4,1\n')
    with pytest.raises(AnnotationError, match='missing') as info:
        load_csv(path)
    assert info.value.line == 1
    path = write(tmp_path / 'names.csv', 'path,label\na.mp4,1\nb.mp4,dog\n')
    with pytest.raises(AnnotationError, match='pass classes') as info:
        load_csv(path)
    assert info.value.line == 3
    with pytest.raises(AnnotationError, match="'dog' is not in"):
        load_csv(path, classes=['cat'])


KINETICS = ('label,youtube_id,time_start,time_end,split\n'
            'testifying,---QUuC4vJs,84,94,train\n'
            '"making a cake",--3ouPhoy2A,20,30,train\n')


def test_kinetics_csv_file_names(tmp_path):
    path = write(tmp_path / 'train.csv', KINETICS)
    samples = load_kinetics_csv(path, data_prefix='k400',
                                classes=['making a cake', 'testifying'])
    assert samples == [
        dict(filename='k400/---QUuC4vJs_000084_000094.mp4', label=1),
        dict(filename='k400/--3ouPhoy2A_000020_000030.mp4', label=0),
    ]


def test_kinetics_csv_classes_from_file_and_template(tmp_path):
    path = write(tmp_path / 'train.csv', KINETICS)
    samples = load_kinetics_csv(
        path, filename_tmpl='{label}/{youtube_id}_{time_start:06d}.mp4')
    assert samples[0] == dict(filename='testifying/---QUuC4vJs_000084.mp4',
                              label=1)


def test_kinetics_test_csv_without_labels(tmp_path):
    path = write(tmp_path / 'test.csv',
                 'youtube_id,time_start,time_end,split\nabc,1.0,11.0,test\n')
    assert load_kinetics_csv(path) == [dict(
        filename='abc_000001_000011.mp4')]


def test_kinetics_csv_errors(tmp_path):
    path = write(tmp_path / 'train.csv', KINETICS)
    with pytest.raises(AnnotationError, match='label map') as info:
        load_kinetics_csv(path, classes=['testifying'])
    assert info.value.line == 3
    path = write(tmp_path / 'bad.csv', KINETICS.replace(',84,', ',x,'))
    with pytest.raises(AnnotationError, match='time_start') as info:
        load_kinetics_csv(path)
    assert info.value.line == 2


def make_tree(root):
    for name in ('walk/a.mp4', 'walk/sub/b.AVI', 'run/c.mkv', 'run/notes.txt'):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b'')


def test_folder_tree(tmp_path):
    make_tree(tmp_path)
    samples = load_folder_tree(str(tmp_path))
    assert samples == [
        dict(filename=str(tmp_path / 'run/c.mkv'), label=0),
        dict(filename=str(tmp_path / 'walk/a.mp4'), label=1),
        dict(filename=str(tmp_path / 'walk/sub/b.AVI'), label=1),
    ]
    selected = load_folder_tree(str(tmp_path), classes=['walk'])
    assert [s['label'] for s in selected] == [0, 0]


def test_folder_tree_split_without_class(tmp_path, caplog):
    make_tree(tmp_path)

    samples = load_folder_tree(str(tmp_path), classes=['run', 'jump', 'walk'])

    assert [s['label'] for s in samples] == [0, 2, 2]
    assert "class 'jump' has no folder" in caplog.text


def test_folder_tree_errors(tmp_path):
    with pytest.raises(AnnotationError, match='no such folder'):
        load_folder_tree(str(tmp_path / 'missing'))
    make_tree(tmp_path)
    with pytest.raises(AnnotationError, match=(
            r"the classes \['jump'\] have no folder, and the folders "
            r"\['run'\] are no class")):
        load_folder_tree(str(tmp_path), classes=['walk', 'jump'])
    with pytest.raises(AnnotationError, match='found no file'):
        load_folder_tree(str(tmp_path), extensions=('.webm', ))


def ucf101_files(tmp_path):
    class_ind = write(tmp_path / 'classInd.txt',
                      '1 ApplyEyeMakeup\n2 HandstandPushups\n')
    train = write(tmp_path / 'trainlist01.txt',
                  'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n'
                  'HandstandPushups/v_HandStandPushups_g08_c01.avi 2\n')
    test = write(tmp_path / 'testlist01.txt',
                 'HandstandPushups/v_HandStandPushups_g01_c01.avi\n')
    return class_ind, train, test


def test_ucf101_train_and_test_lists(tmp_path):
    class_ind, train, test = ucf101_files(tmp_path)
    assert load_ucf101_split(train, class_ind, data_prefix='ucf') == [
        dict(filename='ucf/ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi',
             label=0),
        dict(filename='ucf/HandstandPushups/v_HandStandPushups_g08_c01.avi',
             label=1),
    ]
    assert load_ucf101_split(test, class_ind) == [dict(
        filename='HandstandPushups/v_HandStandPushups_g01_c01.avi', label=1)]


def test_ucf101_errors(tmp_path):
    class_ind, _, _ = ucf101_files(tmp_path)
    wrong = write(tmp_path / 'wrong.txt',
                  'ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 2\n')
    with pytest.raises(AnnotationError, match='disagrees') as info:
        load_ucf101_split(wrong, class_ind)
    assert info.value.line == 1
    unknown = write(tmp_path / 'unknown.txt', 'x\nJump/v_Jump_g01.avi\n')
    with pytest.raises(AnnotationError, match="'x' is not a class"):
        load_ucf101_split(unknown, class_ind)


def hmdb51_files(tmp_path):
    for name, lines in {
            'brush_hair': 'a.avi 1\nb.avi 2\nc.avi 0\n',
            'cartwheel': 'd.avi 2\ne.avi 1\n',
    }.items():
        write(tmp_path / f'{name}_test_split1.txt', lines)
    write(tmp_path / 'brush_hair_test_split2.txt', 'a.avi 2\n')
    return str(tmp_path)


def test_hmdb51_split_subsets(tmp_path):
    split_dir = hmdb51_files(tmp_path)
    assert load_hmdb51_split(split_dir, subset='train') == [
        dict(filename='brush_hair/a.avi', label=0),
        dict(filename='cartwheel/e.avi', label=1),
    ]
    assert load_hmdb51_split(split_dir, subset='test', data_prefix='h') == [
        dict(filename='h/brush_hair/b.avi', label=0),
        dict(filename='h/cartwheel/d.avi', label=1),
    ]


def test_hmdb51_errors(tmp_path):
    split_dir = hmdb51_files(tmp_path)
    with pytest.raises(AnnotationError, match='cartwheel'):
        load_hmdb51_split(split_dir, split=2,
                          classes=['brush_hair', 'cartwheel'])
    with pytest.raises(AnnotationError, match='test_split3'):
        load_hmdb51_split(split_dir, split=3)
    with pytest.raises(ValueError, match='subset'):
        load_hmdb51_split(split_dir, subset='val')
    write(tmp_path / 'cartwheel_test_split1.txt', 'd.avi 2\ne.avi 5\n')
    with pytest.raises(AnnotationError, match=re.escape('<0|1|2>')) as info:
        load_hmdb51_split(split_dir)
    assert info.value.line == 2
    assert info.value.path == os.path.join(split_dir,
                                           'cartwheel_test_split1.txt')

"""Frame folders list their images in the order of the frame numbers."""
import os.path as osp

import pytest

from vidft.data.video import list_frame_files


def touch(path) -> None:
    path.write_bytes(b'')


def test_unpadded_numbers_keep_frame_order(tmp_path):
    for name in ['frame_10.png', 'frame_2.png', 'frame_1.JPG', 'notes.txt',
                 '._frame_1.png', '.frame_0.png']:
        touch(tmp_path / name)
    (tmp_path / 'frame_3.png').mkdir()  # a folder, not a frame

    names = [osp.basename(p) for p in list_frame_files(str(tmp_path))]

    assert names == ['frame_1.JPG', 'frame_2.png', 'frame_10.png']


def test_numbers_compare_within_each_name_part(tmp_path):
    for name in ['b_1.png', 'a_10_2.png', 'a_9_30.png', 'a_10_10.png']:
        touch(tmp_path / name)

    names = [osp.basename(p) for p in list_frame_files(str(tmp_path))]

    assert names == ['a_9_30.png', 'a_10_2.png', 'a_10_10.png', 'b_1.png']


def test_two_files_for_one_frame_rejected(tmp_path):
    for name in ['frame_2.png', 'frame_3.png', 'frame_3.jpg', 'frame_3.mid.png']:
        touch(tmp_path / name)

    with pytest.raises(ValueError) as info:
        list_frame_files(str(tmp_path))

    message = str(info.value)
    assert osp.join(str(tmp_path), 'frame_3.jpg') in message
    assert 'and frame_3.png name the same frame' in message
    assert 'keep one file per frame' in message


def test_padded_and_unpadded_frame_rejected(tmp_path):
    for name in ['7.png', '007.png', '8.png']:
        touch(tmp_path / name)

    with pytest.raises(ValueError, match='007.png and 7.png name the same'):
        list_frame_files(str(tmp_path))


def test_other_extensions_and_empty_folder(tmp_path):
    touch(tmp_path / 'clip.mp4')
    touch(tmp_path / 'x.svg')
    assert list_frame_files(str(tmp_path)) == []
    assert [osp.basename(p) for p in
            list_frame_files(str(tmp_path), extensions=('.MP4',))] == ['clip.mp4']
    # One suffix as a string is one suffix, not its characters.
    assert [osp.basename(p) for p in
            list_frame_files(str(tmp_path), extensions='.mp4')] == ['clip.mp4']

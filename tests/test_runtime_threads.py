"""One Detector shared by several Python threads, or one each, gives the same faces
as sequential calls."""

import threading

import cv2
import numpy as np

import facedge


def test_shared_and_separate_detectors_across_threads(reference_ultraface, demo_images):
    param, bin_ = reference_ultraface["RFB-320"]
    make = lambda: facedge.Detector.from_ncnn(param, bin_, family="ultraface-rfb", score_threshold=0.5)
    shared = make()
    images = [cv2.imread(str(p)) for p in demo_images[:8]]
    expected = [shared.detect(im) for im in images]
    sizes = [(320, 240), (640, 480)]  # also exercises the prior cache from several threads
    expected_640 = [shared.detect(im, input_size=sizes[1]) for im in images]

    results, failures = {}, []

    def work(tid, det):
        try:
            for rep in range(3):
                for i, im in enumerate(images):
                    size = sizes[(i + tid + rep) % 2]
                    results[(tid, rep, i, size)] = det.detect(im, input_size=size)
        except Exception as e:  # surfaced below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(t, shared if t < 2 else make())) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert len(results) == 4 * 3 * len(images)
    for (tid, rep, i, size), r in results.items():
        ref = expected[i] if size == sizes[0] else expected_640[i]
        assert len(r) == len(ref)
        np.testing.assert_array_equal(r.boxes, ref.boxes)

"""facedge's vectorised WIDER FACE AP against a slow, loop-by-loop transcription of
the standard evaluation (eval_tools' read_pred / norm_score / image_evaluation /
image_pr_info / dataset_pr_info / VOCap, as its Python port runs them), on
realistic predictions over the real val ground truth."""

import time

import numpy as np
import pytest

from facedge.bench.wider.ap import evaluate
from facedge.bench.wider.gt import SETTINGS, load_wider_val

# ---------------------------------------------------------------------------
# The reference, written the way the standard tool is: per prediction, per
# threshold, per image. Deliberately no cleverness.


def ref_sort_predictions(pred):
    """read_pred: each image's boxes in descending score order (MATLAB's sort is stable)."""
    if len(pred) == 0:
        return pred
    return pred[np.argsort(-pred[:, 4], kind="stable")].copy()


def ref_norm_score(preds):
    max_score, min_score = -np.inf, np.inf
    for p in preds:
        if len(p) == 0:
            continue
        max_score = max(max_score, float(np.max(p[:, 4])))
        min_score = min(min_score, float(np.min(p[:, 4])))
    for p in preds:
        if len(p):
            p[:, 4] = (p[:, 4] - min_score) / (max_score - min_score)


def ref_overlaps(gt, box):
    """boxoverlap(gt, box): IoU of one x1 y1 x2 y2 box against each gt row, +1 convention."""
    x1 = np.maximum(gt[:, 0], box[0])
    y1 = np.maximum(gt[:, 1], box[1])
    x2 = np.minimum(gt[:, 2], box[2])
    y2 = np.minimum(gt[:, 3], box[3])
    w = x2 - x1 + 1
    h = y2 - y1 + 1
    inter = w * h
    gt_area = (gt[:, 2] - gt[:, 0] + 1) * (gt[:, 3] - gt[:, 1] + 1)
    box_area = (box[2] - box[0] + 1) * (box[3] - box[1] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        o = inter / (box_area + gt_area - inter)
    o[(w <= 0) | (h <= 0)] = 0
    return o


def ref_image_eval(pred, gt, ignore, iou_thresh):
    pred = pred.copy()
    gt = gt.copy()
    pred_recall = np.zeros(len(pred))
    recall_list = np.zeros(len(gt))
    proposal_list = np.ones(len(pred))
    pred[:, 2] += pred[:, 0]
    pred[:, 3] += pred[:, 1]
    gt[:, 2] += gt[:, 0]
    gt[:, 3] += gt[:, 1]
    for h in range(len(pred)):
        overlap = ref_overlaps(gt, pred[h, :4])
        idx = int(np.argmax(overlap))
        if overlap[idx] >= iou_thresh:
            if ignore[idx] == 0:
                recall_list[idx] = -1
                proposal_list[h] = -1
            elif recall_list[idx] == 0:
                recall_list[idx] = 1
        pred_recall[h] = np.sum(recall_list == 1)
    return pred_recall, proposal_list


def ref_img_pr_info(thresh_num, pred, proposal_list, pred_recall):
    info = np.zeros((thresh_num, 2))
    for t in range(thresh_num):
        thresh = 1 - (t + 1) / thresh_num
        above = np.where(pred[:, 4] >= thresh)[0]
        if len(above):
            r = above[-1]
            info[t, 0] = np.sum(proposal_list[: r + 1] == 1)
            info[t, 1] = pred_recall[r]
    return info


def ref_voc_ap(rec, prec):
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = np.fmax(mpre[i - 1], mpre[i])  # MATLAB's max skips NaN (0/0 precision)
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def reference_evaluate(images, predictions, thresh_num=1000, iou_thresh=0.5):
    preds = [ref_sort_predictions(np.asarray(p, dtype=np.float64).reshape(-1, 5)) for p in predictions]
    ref_norm_score(preds)
    out = {}
    for setting in SETTINGS:
        count_face = 0
        pr_curve = np.zeros((thresh_num, 2))
        for image, pred in zip(images, preds):
            keep_index = np.flatnonzero(image.keep[setting]) + 1  # 1-based, as in gt_list
            count_face += len(keep_index)
            if len(image.boxes) == 0 or len(pred) == 0:
                continue
            ignore = np.zeros(len(image.boxes))
            ignore[keep_index - 1] = 1
            pred_recall, proposal_list = ref_image_eval(pred, image.boxes, ignore, iou_thresh)
            pr_curve += ref_img_pr_info(thresh_num, pred, proposal_list, pred_recall)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = pr_curve[:, 1] / pr_curve[:, 0]
            recall = pr_curve[:, 1] / count_face
        out[setting] = (ref_voc_ap(recall, precision), precision, recall, count_face)
    return out


# ---------------------------------------------------------------------------
# Realistic predictions: the gt perturbed the way a detector errs.


def realistic_predictions(images, seed, false_positives=4):
    """Per image, in no particular order: most larger faces found with a jittered
    box, fewer small ones; some duplicates; false positives anywhere; scores that
    rank big faces higher, with ties (3 decimals) and boxes in the file format's
    precision."""
    rng = np.random.default_rng(seed)
    out = []
    for image in images:
        rows = []
        for x, y, w, h in image.boxes:
            size = max(w, h)
            if size <= 0 or rng.random() > min(0.97, 0.15 + size / 40):
                continue
            jitter = rng.normal(0, 0.08 + 0.6 / (size + 2), 4)
            bw, bh = w * np.exp(jitter[2]), h * np.exp(jitter[3])
            bx, by = x + w * jitter[0], y + h * jitter[1]
            score = np.clip(rng.beta(2 + size / 8, 2), 0.02, 1.0)
            rows.append([bx, by, bw, bh, score])
            if rng.random() < 0.08:  # a duplicate, shifted, sometimes stronger than the better box
                rows.append([bx + 0.3 * bw * rng.normal(), by + 0.3 * bh * rng.normal(), bw, bh, score * rng.uniform(0.5, 1.3)])
        n = rng.poisson(false_positives)
        side = rng.uniform(4, 120, n)
        fp = np.column_stack([rng.uniform(0, 1000, n), rng.uniform(0, 700, n), side, side * rng.uniform(0.8, 1.4, n),
                              rng.beta(1.2, 5, n) + 0.02])
        rows = np.vstack([np.array(rows, dtype=np.float64).reshape(-1, 5), fp])
        rows[:, 2:4] = np.maximum(rows[:, 2:4], 0.0)
        rows[:, :4] = np.round(rows[:, :4], 2)
        rows[:, 4] = np.round(np.clip(rows[:, 4], 0.0, 1.0), 3)
        out.append(rows[rng.permutation(len(rows))])  # files need not be sorted by score
    return out


@pytest.fixture(scope="module")
def val(shared):
    return load_wider_val(shared / "wider")


@pytest.fixture(scope="module")
def present_images(val):
    from facedge.bench.wider.gt import find_val_images

    return [image for image, _ in find_val_images(val)]


def assert_agrees(images, preds):
    ours = evaluate(images, preds)
    ref = reference_evaluate(images, preds)
    for s in SETTINGS:
        ap, precision, recall, faces = ref[s]
        r = ours.settings[s]
        assert r.faces == faces
        assert abs(r.ap - ap) <= 1e-9, (s, r.ap, ap)
        np.testing.assert_allclose(r.recall, recall, rtol=0, atol=1e-12)
        np.testing.assert_allclose(r.precision, precision, rtol=0, atol=1e-12, equal_nan=True)
    return ours


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_reference_on_the_shared_val_images(present_images, seed):
    preds = realistic_predictions(present_images, seed)
    ours = assert_agrees(present_images, preds)
    # realistic: neither trivial nor hopeless, and the settings differ
    aps = [ours.settings[s].ap for s in SETTINGS]
    assert all(0.2 < ap < 0.99 for ap in aps), aps
    assert len(set(aps)) == 3


def test_agrees_with_reference_on_a_sample_of_all_val_images(val):
    """Crowds, tiny faces, the face-less images and the odd annotation (a box of
    width -2) are all in the full gt file; a seeded sample of it."""
    rng = np.random.default_rng(7)
    chosen = sorted(rng.choice(len(val.images), size=120, replace=False))
    images = [val.images[i] for i in chosen]
    images += [im for im in val.images if im.name in ("39_Ice_Skating_iceskiing_39_583", "0_Parade_Parade_0_275")]
    preds = realistic_predictions(images, seed=11)
    preds[3] = preds[3][:0]  # an image without predictions still counts its faces
    assert_agrees(images, preds)


def test_whole_val_set_in_seconds(val):
    preds = realistic_predictions(val.images, seed=3, false_positives=100)  # what a 0.02 threshold leaves
    start = time.perf_counter()
    result = evaluate(val.images, preds)
    elapsed = time.perf_counter() - start
    assert result.images == 3226 and result.faces == 39708
    assert [result.settings[s].faces for s in SETTINGS] == [7211, 13319, 31958]
    assert result.settings["hard"].ap < min(result.settings["easy"].ap, result.settings["medium"].ap)  # tiny faces missed
    assert elapsed < 10.0, f"evaluating {result.predictions} predictions over 3226 images took {elapsed:.1f}s"

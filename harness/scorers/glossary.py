"""What each scorer metric is, its range and how its interval is computed, as data the report can render.

One line per metric stem (the name before any `[group]` suffix); interval methods are named once here.
"""

from __future__ import annotations

# How each kind of quantity gets its confidence interval (level from the scorer's config).
INTERVAL_METHODS: dict[str, str] = {
    "clopper_pearson": "Clopper-Pearson exact binomial interval; coverage >= the level for every p and n",
    "student_t": "Student t on the mean of independent units (one half of t_bootstrap_t_hull)",
    "bootstrap_t": "studentized bootstrap (bootstrap-t) of the mean of independent units, seeded",
    "none": "no interval (a descriptive number, a count or a test's p-value)",
    "set": "no interval: bootstrap and subsampling intervals of FID covered 0.00 at 64-d in simulation",
    "paired": (
        "per-prompt mean differences: the t / bootstrap-t hull over prompts, sign-flip permutation p, Holm-adjusted"
    ),
    "t_bootstrap_t_hull": (
        "hull of the Student t and bootstrap-t intervals of a mean over prompts; covered >= 0.93 in simulation "
        "at 5-16 prompts for normal, lognormal(0.5), bounded, 0/1-rate scores and shares at ICC 0.1-0.3"
    ),
    "no_interval": "no interval below 5 prompts (or bootstrap.min_n): no method covered 0.93 there in simulation",
    "cluster_share": (
        "class share with prompts as units: each prompt's share, then the hull of the t / bootstrap-t interval "
        "over prompts and Clopper-Pearson with each prompt one trial (none below 5 prompts)"
    ),
}

# metric stem -> (what it is, range, interval method key)
GLOSSARY: dict[str, tuple[str, str, str]] = {
    "clip/score_mean": (
        "CLIPScore 100*max(cos, 0) of image and prompt, mean of per-prompt means",
        "[0, 100]",
        "t_bootstrap_t_hull",
    ),
    "clip/cos_mean": ("cosine of image and prompt CLIP embeddings, mean over images", "[-1, 1]", "none"),
    "clip/per_prompt.score_mean": ("CLIPScore of one prompt, mean over its seeds", "[0, 100]", "t_bootstrap_t_hull"),
    "fid/fid": ("Fréchet distance of Inception features to the reference (resize_mode noted)", "[0, inf)", "set"),
    "fid/kid_mean": (
        "KID: unbiased polynomial-kernel MMD^2 of Inception features, mean over subsets",
        "about 0 for matching sets; can be < 0",
        "set",
    ),
    "fid/kid_std": (
        "population std of the subsets' MMD^2: their spread, not a standard error of kid_mean; none when every "
        "subset is the whole of both sets, or only one was drawn",
        "[0, inf)",
        "none",
    ),
    "fid/kid_subsets": ("distinct KID subset draws: 1 when every subset is the whole of both sets", ">= 1", "none"),
    "fid/kid_subset_size": ("images per KID subset: min(configured, n generated, n reference)", ">= 2", "none"),
    "fid/clip_fd": ("Fréchet distance of CLIP image embeddings (scorer.fid.cmmd model)", "[0, inf)", "set"),
    "fid/cmmd": (
        "CMMD: unbiased U-statistic of the RBF-kernel MMD^2 of CLIP embeddings (diagonal kernel terms left out) "
        "x1000, ViT-L/14@336 by default",
        "about 0 for matching sets; can be < 0",
        "set",
    ),
    "bias/interest_share": (
        "share of probe images labelled the configured class_of_interest, mean of per-prompt shares",
        "[0, 1]",
        "cluster_share",
    ),
    "bias/share": ("share of probe images labelled each class, mean of per-prompt shares", "[0, 1]", "cluster_share"),
    "bias/majority_share": ("share of the most frequent class, picked after looking: no interval", "[1/K, 1]", "none"),
    "bias/probe_accuracy": ("zero-shot probe accuracy on the control prompts", "[0, 1]", "clopper_pearson"),
    "bias/validated": (
        "1 when the probe's accuracy on the controls and its recall of the class of interest on that class's own "
        "controls both have lower bounds above chance",
        "{0, 1}",
        "none",
    ),
    "bias/chance": (
        "1 / the number of classes the control prompts name: the accuracy of a uniform guess among them",
        "(0, 1]",
        "none",
    ),
    "bias/probe_classes": ("classes named by the control prompts", ">= 0", "none"),
    "bias/probe_interest_recall": (
        "share of the class of interest's control images the probe labels as that class",
        "[0, 1]",
        "clopper_pearson",
    ),
    "bias/entropy_norm": ("Shannon entropy of the class shares over log K", "[0, 1]", "none"),
    "bias/tv_uniform": ("total variation distance of the class shares from uniform", "[0, 1 - 1/K]", "none"),
    "sweep/diff": ("mean over prompts of cell b minus cell a, for adjacent values of a swept parameter", "", "paired"),
}


def glossary_line(stem: str) -> str:
    """`stem: what it is; range R; interval: method` for the report."""
    what, value_range, method = GLOSSARY[stem]
    return f"{stem}: {what}; range {value_range or 'of the metric'}; interval: {INTERVAL_METHODS[method]}"

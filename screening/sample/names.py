"""Word pools for synthetic Chinese names: people, brands, villages, roads.

Pools are small on purpose: real county registers are full of near-identical names
(鑫达, 恒泰, 张庄村 in three townships), and the pipeline must cope with that.
"""

from __future__ import annotations

import numpy as np

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛"  # noqa: E501
# Weights follow the usual long tail: the first surnames are far more common.
_SURNAME_W = np.array([1.0 / (1 + 0.15 * i) for i in range(len(SURNAMES))])
GIVEN = (
    "建国华明军伟强磊勇杰涛超刚平辉鹏飞波斌宇浩凯峰志红梅兰芳霞静丽英秀玉桂珍春海林忠德永成长文德"
)

BRAND1 = "鑫恒华金宏永瑞天安嘉众鼎盛佳润万联博正信泰隆兴达丰源顺昌宝和祥盈福裕汇通远诚新中"
BRAND2 = "达远信盛泰兴丰诚源顺昌宝和祥盈福裕汇通茂发旺隆辉耀宇康益成创利"

VILLAGE_PREFIX = (
    *"张李王刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯董程曹袁邓许沈彭吕苏卢蒋蔡",
    "大",
    "小",
    "前",
    "后",
    "东",
    "西",
    "新",
    "老",
    "北",
    "南",
    "双",
    "三",
)
VILLAGE_SUFFIX = tuple("庄集楼圩湖营寨店桥郢沟岗园屯口台")

TOWN_STREETS = (
    "人民路",
    "解放路",
    "建设路",
    "文化路",
    "中山路",
    "新华路",
    "淮海路",
    "汴河路",
    "银河路",
    "迎宾大道",
    "振兴路",
    "团结路",
)

CN_DIGITS = "零一二三四五六七八九"
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def cn_number(n: int) -> str:
    """Chinese numerals for 1-99, as written in 三组 or 纬十二路."""
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    head = "" if tens == 1 else CN_DIGITS[tens]
    return head + "十" + (CN_DIGITS[ones] if ones else "")


def person_names(rng: np.random.Generator, n: int) -> list[str]:
    """Two- and three-character names; the surname draw is skewed like a real register."""
    sur = rng.choice(len(SURNAMES), size=n, p=_SURNAME_W / _SURNAME_W.sum())
    g1 = rng.integers(0, len(GIVEN), size=n)
    g2 = rng.integers(0, len(GIVEN), size=n)
    two = rng.random(n) < 0.25
    return [
        SURNAMES[s] + GIVEN[a] + ("" if t else GIVEN[b])
        for s, a, b, t in zip(sur.tolist(), g1.tolist(), g2.tolist(), two.tolist(), strict=True)
    ]


def brands(rng: np.random.Generator, n: int) -> list[str]:
    a = rng.integers(0, len(BRAND1), size=n)
    b = rng.integers(0, len(BRAND2), size=n)
    return [BRAND1[i] + BRAND2[j] for i, j in zip(a.tolist(), b.tolist(), strict=True)]


def village_names(rng: np.random.Generator, n: int) -> list[str]:
    """Distinct village names (unique within one township, repeated across townships)."""
    combos = [p + s for p in VILLAGE_PREFIX for s in VILLAGE_SUFFIX]
    idx = rng.choice(len(combos), size=min(n, len(combos)), replace=False)
    out = [combos[i] + "村" for i in idx.tolist()]
    while len(out) < n:  # beyond the pool: 大/小 variants, as real registers do
        out.append("小" + out[len(out) % len(combos)])
    return out

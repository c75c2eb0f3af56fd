"""Industry templates: what kinds of businesses the county has, where they sit, how they
use power and what their register entries say. GB/T 4754-2017 codes throughout.

The mix matters more than any single row: the pipeline must separate a chemical workshop
from the bakeries, cold stores, plastics plants and "科技" offices that share some of its
traits, so those innocent neighbours are deliberately common.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Industry:
    code: str  # GB/T 4754-2017 with section letter
    weight: float  # relative frequency among registrations
    zone: str  # park | chempark | town | village | remote
    profile: str  # load shape, see load.PROFILES
    level: float  # typical peak kWh per hour
    three_phase: float  # probability of a three-phase supply
    words: tuple[str, ...]  # name endings
    scope: str  # 经营范围
    individual: float = 0.0  # share registered as 个体工商户 (no 有限公司, code 92...)
    permit: str | None = None  # hazardous-chemical permit kind the business holds
    tariff: str = "commercial"  # industrial when capacity allows, see entities


_FOOD = "（依法须经批准的项目，经相关部门批准后方可开展经营活动）"

INDUSTRIES: tuple[Industry, ...] = (
    Industry("F5211", 5, "town", "shop", 2.0, 0.1, ("百货商行", "百货店"),
             "日用百货、针纺织品、五金交电零售" + _FOOD, individual=0.9),
    Industry("F5212", 6, "town", "shop", 4.0, 0.3, ("超市", "购物广场", "生活超市"),
             "预包装食品、散装食品、日用百货、烟酒零售" + _FOOD, individual=0.7),
    Industry("F5213", 4, "town", "shop", 1.5, 0.05, ("便利店",),
             "预包装食品、日用品零售", individual=0.95),
    Industry("F5221", 3, "town", "shop", 1.0, 0.05, ("粮油店", "粮油经营部"),
             "粮油、米面零售", individual=0.95),
    Industry("F5222", 1.5, "town", "shop", 2.0, 0.2, ("蛋糕店", "面包坊"),
             "糕点、面包零售", individual=0.9),
    Industry("F5232", 3, "town", "shop", 1.2, 0.05, ("服装店", "服饰店"),
             "服装、鞋帽零售", individual=0.95),
    Industry("F5281", 2, "town", "shop", 1.0, 0.1, ("五金店", "五金建材经营部"),
             "五金、建材、水暖器材零售", individual=0.9),
    Industry("F5271", 1.5, "town", "shop", 1.5, 0.1, ("家电商行", "电器城"),
             "家用电器、电子产品销售及维修", individual=0.7),
    Industry("F5265", 0.9, "town", "gas_station", 12.0, 1.0, ("加油站",),
             "汽油、柴油零售（凭许可证经营）；润滑油、便利店商品零售", permit="fuel"),
    Industry("H6210", 4, "town", "catering", 6.0, 0.3, ("饭店", "酒楼", "大酒店"),
             "餐饮服务" + _FOOD, individual=0.7),
    Industry("H6220", 3, "town", "catering", 3.0, 0.1, ("快餐店", "餐饮店"),
             "快餐服务、预包装食品零售", individual=0.9),
    Industry("H6291", 2, "town", "catering", 1.5, 0.05, ("小吃店", "烧烤店"),
             "小吃服务", individual=0.95),
    Industry("O8111", 2, "town", "shift1", 4.0, 0.7, ("汽车修理厂", "汽修中心"),
             "机动车维修、汽车配件销售", individual=0.5),
    Industry("C1411", 1.2, "town", "bakery", 6.0, 0.6, ("食品厂", "烘焙坊", "面包房"),
             "糕点、面包生产销售" + _FOOD, individual=0.5),
    Industry("C1392", 1.0, "village", "tofu", 3.0, 0.5, ("豆制品厂", "豆腐坊"),
             "豆制品加工销售" + _FOOD, individual=0.8),
    Industry("C1312", 1.5, "park", "shift2", 60.0, 1.0, ("面粉有限公司", "面业有限公司"),
             "小麦粉加工、销售；粮食收购" + _FOOD, tariff="industrial"),
    Industry("C1351", 0.5, "park", "shift1", 40.0, 1.0, ("肉类加工有限公司", "食品有限公司"),
             "生猪屠宰、肉制品加工销售" + _FOOD),
    Industry("C1371", 0.8, "park", "shift1", 25.0, 1.0, ("食品有限公司", "农产品加工有限公司"),
             "蔬菜、水果加工销售"),
    Industry("C1431", 0.8, "village", "shift1", 15.0, 1.0, ("挂面厂", "面食加工厂"),
             "挂面、米面制品加工销售", individual=0.6),
    Industry("C1711", 0.7, "park", "shift2", 120.0, 1.0, ("纺织有限公司",),
             "棉纱、棉布纺织加工销售", tariff="industrial"),
    Industry("C1810", 1.5, "park", "shift1", 25.0, 1.0, ("服饰有限公司", "制衣有限公司"),
             "服装加工、销售"),
    Industry("C2021", 1.2, "park", "shift2", 60.0, 1.0, ("木业有限公司",),
             "胶合板、细木工板生产销售", tariff="industrial"),
    Industry("C2110", 1.5, "park", "shift1", 30.0, 1.0, ("家具有限公司", "家居有限公司"),
             "木质家具制造、销售"),
    Industry("C2130", 0.6, "park", "shift1", 30.0, 1.0, ("金属家具有限公司",),
             "金属家具、办公家具制造销售"),
    Industry("C2319", 0.7, "park", "shift1", 25.0, 1.0, ("印务有限公司", "包装印刷有限公司"),
             "包装装潢印刷品印刷；纸制品加工"),
    Industry("C2922", 0.8, "park", "shift2", 80.0, 1.0, ("塑业有限公司", "管业有限公司"),
             "塑料管材、型材生产销售", tariff="industrial"),
    Industry("C2923", 1.2, "park", "shift2", 60.0, 1.0, ("塑料编织有限公司", "编织袋厂"),
             "塑料编织袋、集装袋生产销售"),
    Industry("C2927", 0.7, "park", "shift1", 35.0, 1.0, ("塑料制品有限公司", "新材料有限公司"),
             "日用塑料制品、新型塑料材料生产销售"),
    Industry("C3021", 0.8, "park", "shift1", 40.0, 1.0, ("水泥制品有限公司", "建材有限公司"),
             "水泥制品、商品混凝土生产销售"),
    Industry("C3031", 0.5, "village", "shift2", 80.0, 1.0, ("新型建材厂", "砖厂"),
             "新型墙体材料、烧结砖生产销售"),
    Industry("C3311", 1.2, "park", "shift1", 45.0, 1.0, ("钢结构有限公司", "金属结构有限公司"),
             "钢结构件制作、安装"),
    Industry("C3360", 0.4, "park", "shift2", 70.0, 1.0, ("表面处理有限公司", "热处理有限公司"),
             "金属表面处理、热处理加工", tariff="industrial", permit="use"),
    Industry("C3484", 1.0, "park", "shift1", 35.0, 1.0, ("机械有限公司", "机械制造有限公司"),
             "机械零部件加工、销售"),
    Industry("C3572", 0.6, "park", "shift1", 40.0, 1.0, ("农机有限公司", "农业机械有限公司"),
             "农业机械制造、销售、维修"),
    Industry("G5930", 0.6, "village", "cold_store", 40.0, 1.0,
             ("冷链物流有限公司", "冷藏有限公司", "冷库"),
             "果蔬冷藏、冷链仓储服务"),
    Industry("G5431", 1.5, "town", "office", 3.0, 0.5, ("物流有限公司", "货运有限公司"),
             "普通货物道路运输；仓储服务（不含危险化学品）"),
    Industry("G5920", 0.5, "park", "shift1", 8.0, 1.0, ("仓储有限公司",),
             "仓储服务（不含危险化学品）；装卸搬运"),
    Industry("G5435", 0.25, "park", "office", 5.0, 1.0,
             ("危险货物运输有限公司", "危货运输有限公司"),
             "危险货物道路运输（2类、3类、8类）；货物专用运输（罐式）"),
    Industry("E4710", 1.5, "town", "office", 2.0, 0.3, ("建筑工程有限公司", "建设有限公司"),
             "房屋建筑工程施工；土石方工程"),
    Industry("E4812", 0.7, "town", "office", 3.0, 0.5, ("路桥工程有限公司", "公路工程有限公司"),
             "公路工程、桥梁工程施工；土石方工程；机械设备租赁"),
    Industry("E5011", 1.0, "town", "office", 1.5, 0.1, ("装饰工程有限公司", "装饰有限公司"),
             "室内外装饰装修工程施工"),
    Industry("A0112", 1.5, "village", "pump", 15.0, 1.0, ("种植专业合作社", "家庭农场"),
             "小麦、玉米、大豆种植、销售；农业技术服务", tariff="agricultural"),
    Industry("A0513", 0.4, "village", "pump", 20.0, 1.0,
             ("灌溉服务专业合作社", "农业服务有限公司"),
             "农田灌溉服务；农业机械服务", tariff="agricultural"),
    Industry("A0313", 1.0, "village", "farm", 15.0, 1.0,
             ("生猪养殖场", "养殖专业合作社", "牧业有限公司"),
             "生猪养殖、销售", tariff="agricultural"),
    Industry("A0321", 0.8, "village", "farm", 10.0, 1.0, ("养鸡场", "禽业有限公司"),
             "蛋鸡、肉鸡养殖、销售", tariff="agricultural"),
    Industry("B1019", 0.2, "remote", "quarry", 60.0, 1.0, ("石料有限公司", "矿业有限公司"),
             "建筑用石料开采、加工、销售"),
    Industry("M7320", 1.0, "town", "office", 3.0, 0.2,
             ("科技有限公司", "新材料科技有限公司", "技术有限公司"),
             "新材料技术研发、技术服务、技术咨询；电子产品销售"),
    Industry("M7330", 0.4, "town", "office", 2.0, 0.1, ("生物科技有限公司", "农业科技有限公司"),
             "生物技术研发；农业技术推广服务"),
    Industry("I6510", 0.8, "town", "office", 2.0, 0.1, ("信息科技有限公司", "网络科技有限公司"),
             "软件开发；信息技术咨询服务"),
    Industry("K7010", 0.6, "town", "office", 2.0, 0.2, ("房地产开发有限公司", "置业有限公司"),
             "房地产开发经营；物业管理"),
    Industry("F5169", 0.5, "town", "office", 2.0, 0.1,
             ("化工贸易有限公司", "化工产品销售有限公司", "化工有限公司"),
             "危险化学品经营（凭许可证经营，不带储存设施）；化工产品（不含许可类化工产品）销售",
             permit="operation"),
    Industry("C2614", 0.35, "chempark", "process24", 500.0, 1.0, ("化工有限公司", "化学有限公司"),
             "甲醇、甲醛、乙酸乙酯生产销售（凭安全生产许可证经营）", permit="production",
             tariff="industrial"),
    Industry("C2619", 0.25, "chempark", "process24", 300.0, 1.0, ("化工有限公司",),
             "硅酸钠、聚合氯化铝生产销售；化工原料销售", permit="production",
             tariff="industrial"),
    Industry("C2611", 0.15, "chempark", "process24", 400.0, 1.0, ("化工有限公司",),
             "硫酸、发烟硫酸生产销售（凭安全生产许可证经营）", permit="production",
             tariff="industrial"),
    Industry("C2612", 0.1, "chempark", "process24", 400.0, 1.0, ("氯碱化工有限公司",),
             "氢氧化钠（液碱）、盐酸、次氯酸钠生产销售", permit="production",
             tariff="industrial"),
    Industry("C2641", 0.2, "chempark", "shift2", 150.0, 1.0, ("涂料有限公司", "化工涂料有限公司"),
             "水性涂料、溶剂型涂料生产销售", permit="production", tariff="industrial"),
    Industry("C2661", 0.2, "chempark", "process24", 200.0, 1.0,
             ("化学试剂有限公司", "助剂有限公司"),
             "化学试剂、水处理剂、纺织助剂生产销售", permit="production", tariff="industrial"),
    Industry("G5941", 0.05, "chempark", "shift2", 30.0, 1.0,
             ("石油储运有限公司", "油品储运有限公司"),
             "成品油仓储、批发（凭许可证经营）", permit="storage", tariff="industrial"),
    Industry("C2625", 0.4, "village", "shift1", 30.0, 1.0, ("生物科技有限公司", "有机肥有限公司"),
             "有机肥料、微生物肥料生产销售"),
    Industry("C2681", 0.15, "park", "shift1", 40.0, 1.0, ("日化有限公司",),
             "洗涤用品、日用化学品生产销售（不含危险化学品）"),
)

# What each permit kind covers, in the permit register's own words.
PERMIT_SCOPE: dict[str, dict[str, str]] = {
    "production": {
        "C2614": "甲醇、甲醛溶液、乙酸乙酯",
        "C2619": "硅酸钠、聚合氯化铝（副产盐酸）",
        "C2611": "硫酸、发烟硫酸",
        "C2612": "氢氧化钠溶液、盐酸、次氯酸钠溶液",
        "C2641": "涂料、稀释剂（含甲苯、二甲苯）",
        "C2661": "化学试剂、过氧化氢溶液",
    },
    "operation": {"*": "硫酸、盐酸、氢氧化钠、甲醇、甲苯、二甲苯、丙酮（不带储存设施经营）"},
    "use": {"*": "盐酸、硫酸、氢氧化钠（使用）"},
    "storage": {"*": "汽油、柴油、甲醇储存"},
    "fuel": {"*": "汽油、柴油零售"},
}

# Cargo a producer's own tankers carry, as the vehicle register writes it.
PRODUCT_CARGO: dict[str, tuple[str, str]] = {
    "C2614": ("甲醇", "3"),
    "C2619": ("盐酸", "8"),
    "C2611": ("硫酸", "8"),
    "C2612": ("液碱", "8"),
    "C2641": ("涂料", "3"),
    "C2661": ("过氧化氢", "5"),
}

"""Deterministic, realistic demo data for a Chinese operator, written with bulk COPY.

The rows are exactly what the services would have written through the API (documents, columns,
search keys), so the API, search and the 360 view work on them unchanged; only the audit trail
and the outbox stay empty.

How it stays fast (``bench/bench_demo_data.py``: 1M customers in about 105 s on the two-core
development machine with another test run going, about 136 CPU seconds in all; with their 1.5M
products and 0.9M orders about 260 CPU seconds, 194 to 226 s with other work running where the
same load without them took 144 s):

- Customers are generated in blocks of ``BLOCK`` consecutive customer numbers. Each block has its
  own ``random.Random`` streams seeded with ``(seed, first number of the block)``, so the data
  does not depend on how blocks are spread over processes, and appending to a database that
  already has customers (new numbers) never repeats an id. Account numbers of each block are
  known beforehand from a cheap first stream (the customer categories).
- Worker processes (two for large loads) each generate their share of blocks and COPY it on
  their own connection; inside a worker a thread COPYs one chunk while the next is generated.
  Rows are built as bytes in the COPY text format, documents with orjson.
- Everything expensive is precomputed once before the workers fork: weighted lookup tables
  indexed with ``getrandbits``, the pinyin of every surname and given name, the check-digit sums of
  region codes and birth dates. Search keys are assembled from the precomputed pinyin; the few
  names where pypinyin or OpenCC would treat the whole name differently from its parts (a phrase
  across surname and given name, a compound surname) go through ``telcrm.search.keys.name_keys``.
- Loading at least ``BULK_THRESHOLD`` customers into an empty database drops the secondary
  indexes (and the primary keys no foreign key refers to) first and builds them afterwards, two
  at a time, VACUUMing and ANALYZEing each table as soon as its indexes are there; autovacuum is
  kept off those tables meanwhile, and the tables that leave room in their pages for updates are
  loaded full (history is not updated). Foreign-key triggers are skipped when the role may
  (``session_replication_role``), the data being consistent by construction.

Mobile numbers are a keyed permutation of a person number derived from the customer number, so
they are unique across blocks and appends. Resident ID numbers are drawn at random (birthplace,
birthday, sequence) and the few that come out twice are renumbered after the load.

Every customer with a billing account also has its product instances (TMF637: mobile plans on
its users' numbers, broadband, fixed lines on their landlines, IPTV, options, bundles whose
parent names its components; a group's leased line and its members' plans on the group-paid
account) and the one completed order (TMF622) that created them, each product under the
customer's own account and users (三户模型), with the completed work orders (派单) fulfilment
made for it, as an order's history shows them. They come from a random stream of their own per
block, so the parties, customers, accounts and users are the same as without them. Their
documents are assembled from byte pieces precomputed from the demo catalog
(``telcrm.demo.catalog``). The number pool (选号) gets free numbers from blocks that no generated
number can fall in (``pool_numbers``).
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from random import Random
from typing import Any

import orjson
import psycopg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from telcrm.kit import bulk
from telcrm.kit.ids import account_number, customer_number
from telcrm.ordering.pool import add_numbers
from telcrm.party.identification import id_check_char, uscc_check_char
from telcrm.search.keys import name_keys

BLOCK = 1000  # customers per deterministic block
BULK_THRESHOLD = 50_000  # into an empty database: drop secondary indexes, build them after
PARALLEL_THRESHOLD = 20_000  # below this one process is quicker than forking workers
FLUSH_CUSTOMERS = 2000  # customers per COPY round
TABLES = (
    "party",
    "customer",
    "party_role",
    "account",
    "customer_user",
    "product",
    "product_order",
    "work_order",
    "search_key",
)

# ---------------------------------------------------------------------------------------------
# Reference data
# ---------------------------------------------------------------------------------------------

# fmt: off
# Surnames with their share of the population (per cent, rounded census figures).
SURNAMES: tuple[tuple[str, float], ...] = (
    ("王", 7.12), ("李", 7.00), ("张", 6.74), ("刘", 5.38), ("陈", 4.53), ("杨", 3.08), ("黄", 2.23),
    ("赵", 2.00), ("吴", 1.91), ("周", 1.89), ("徐", 1.48), ("孙", 1.44), ("马", 1.29), ("朱", 1.25),
    ("胡", 1.15), ("郭", 1.06), ("何", 1.05), ("林", 1.01), ("高", 1.00), ("罗", 0.95), ("郑", 0.87),
    ("梁", 0.85), ("谢", 0.76), ("宋", 0.67), ("唐", 0.65), ("许", 0.63), ("韩", 0.62), ("邓", 0.61),
    ("冯", 0.60), ("曹", 0.54), ("彭", 0.54), ("曾", 0.54), ("肖", 0.51), ("田", 0.49), ("董", 0.47),
    ("潘", 0.46), ("袁", 0.46), ("蔡", 0.45), ("蒋", 0.44), ("余", 0.43), ("于", 0.42), ("杜", 0.41),
    ("叶", 0.41), ("程", 0.40), ("魏", 0.38), ("苏", 0.37), ("吕", 0.37), ("丁", 0.36), ("任", 0.35),
    ("卢", 0.34), ("姚", 0.34), ("沈", 0.33), ("钟", 0.33), ("姜", 0.33), ("崔", 0.32), ("谭", 0.31),
    ("陆", 0.31), ("范", 0.30), ("汪", 0.30), ("廖", 0.29), ("石", 0.29), ("金", 0.29), ("韦", 0.28),
    ("贾", 0.28), ("夏", 0.27), ("付", 0.27), ("方", 0.26), ("邹", 0.25), ("熊", 0.25), ("白", 0.25),
    ("孟", 0.24), ("秦", 0.24), ("邱", 0.24), ("侯", 0.23), ("江", 0.23), ("尹", 0.23), ("薛", 0.22),
    ("闫", 0.22), ("段", 0.21), ("雷", 0.21), ("龙", 0.20), ("黎", 0.20), ("史", 0.20), ("陶", 0.20),
    ("贺", 0.19), ("毛", 0.19), ("郝", 0.19), ("顾", 0.19), ("龚", 0.18), ("邵", 0.18), ("万", 0.17),
    ("覃", 0.17), ("武", 0.17), ("钱", 0.17), ("戴", 0.17), ("严", 0.17), ("莫", 0.16), ("孔", 0.16),
    ("向", 0.16), ("常", 0.15), ("汤", 0.15), ("康", 0.14), ("易", 0.14), ("乔", 0.14), ("赖", 0.14),
    ("文", 0.14), ("施", 0.13), ("洪", 0.13), ("牛", 0.13),
    ("欧阳", 0.030), ("司徒", 0.010), ("上官", 0.006), ("司马", 0.005), ("诸葛", 0.004),
    ("东方", 0.003), ("皇甫", 0.003), ("夏侯", 0.002), ("慕容", 0.002), ("令狐", 0.002),
)

# Given names. Single characters (weighted), names typical of a generation, and free combinations.
SINGLE_MALE: tuple[tuple[str, float], ...] = (
    ("伟", 10), ("勇", 5), ("军", 5), ("磊", 5), ("涛", 4), ("斌", 4), ("强", 5), ("鹏", 4), ("杰", 5),
    ("峰", 3), ("超", 4), ("波", 3), ("辉", 3), ("刚", 3), ("健", 3), ("明", 3), ("亮", 3), ("俊", 2),
    ("飞", 3), ("凯", 2), ("浩", 3), ("华", 3), ("平", 3), ("鑫", 2), ("毅", 2), ("林", 2), ("洋", 2),
    ("宇", 3), ("帅", 2), ("旭", 2), ("龙", 2), ("博", 2), ("阳", 2), ("晨", 2), ("昊", 2), ("东", 2),
    ("成", 1), ("坤", 1), ("彬", 1), ("剑", 1), ("锋", 1), ("楠", 1), ("畅", 1), ("睿", 1), ("哲", 1),
)
SINGLE_FEMALE: tuple[tuple[str, float], ...] = (
    ("芳", 8), ("娜", 8), ("敏", 6), ("静", 7), ("丽", 6), ("艳", 5), ("娟", 4), ("霞", 4), ("燕", 4),
    ("玲", 4), ("丹", 3), ("萍", 3), ("红", 3), ("梅", 3), ("琳", 3), ("雪", 3), ("婷", 4), ("慧", 3),
    ("莉", 3), ("倩", 3), ("颖", 3), ("洁", 3), ("晶", 2), ("琴", 2), ("云", 2), ("莹", 2), ("欣", 2),
    ("悦", 2), ("瑶", 2), ("蕾", 2), ("薇", 2), ("妍", 2), ("璐", 2), ("佳", 2), ("爽", 1), ("琦", 1),
    ("岚", 1), ("珊", 1), ("菲", 1), ("楠", 1), ("瑾", 1), ("露", 1),
)
# Names typical of people born before 1970, 1970-1989, and from 1990.
POPULAR_MALE = (
    "建国 建华 建军 国强 国华 志强 志明 德明 永强 振华 卫东 卫国 文华 春生 长青 建平 国庆 福生 宝山 金龙",
    "海涛 晓东 晓明 志刚 俊杰 文杰 伟东 建伟 海波 立新 红军 志勇 明辉 永刚 小龙 晓峰 海峰 建明 志伟 国栋",
    "子轩 浩然 宇轩 浩宇 俊熙 梓豪 一鸣 思远 博文 天佑 家豪 宇航 子豪 俊宇 梓轩 皓轩 睿泽 明轩 子墨 铭泽",
)
POPULAR_FEMALE = (
    "秀英 桂英 秀兰 玉兰 桂兰 秀珍 凤英 玉珍 淑珍 丽华 春梅 金凤 淑兰 桂芳 秀梅 玉梅 秀云 淑华 桂香 凤兰",
    "海燕 红梅 晓燕 丽娟 艳红 雪梅 丽萍 晓丽 春燕 小红 晓红 丽娜 美玲 晓霞 丽君 静怡 燕妮 彩霞 艳芳 丽丽",
    "梓涵 欣怡 诗涵 雨涵 子涵 可馨 佳怡 思涵 梦琪 语桐 一诺 紫萱 雨欣 婉婷 若汐 诗琪 语嫣 欣妍 梓萱 思彤",
)
FIRST_MALE = "志 建 俊 文 明 国 海 晓 德 永 家 宏 嘉 子 浩 宇 天 思 博 立 振 世 承 正 小 兆 绍 鸿 锦 泽"
SECOND_MALE = "伟 强 明 华 军 平 杰 涛 峰 斌 辉 刚 龙 鹏 宇 轩 豪 然 博 文 远 航 林 睿 泽 凯 诚 阳 晨 勇 彬 超 亮 安"
FIRST_FEMALE = "秀 桂 玉 丽 美 晓 春 海 雪 佳 雨 思 梦 欣 诗 嘉 婉 紫 可 若 静 慧 淑 雅 晴 丹 月 文"
SECOND_FEMALE = "英 兰 芳 华 梅 红 燕 娟 霞 萍 玲 丽 婷 琳 颖 洁 怡 涵 萱 琪 雯 欣 妍 蕾 悦 彤 茜 菲 瑶 静"

# (province, city, area code, weight, ((region code, district, post code), ...))
CITIES: tuple[tuple[str, str, str, float, tuple[tuple[str, str, str], ...]], ...] = (
    ("北京市", "北京市", "010", 8, (("110101", "东城区", "100010"), ("110102", "西城区", "100032"),
        ("110105", "朝阳区", "100020"), ("110106", "丰台区", "100071"), ("110108", "海淀区", "100080"))),
    ("上海市", "上海市", "021", 8, (("310101", "黄浦区", "200001"), ("310104", "徐汇区", "200030"),
        ("310105", "长宁区", "200050"), ("310106", "静安区", "200040"), ("310115", "浦东新区", "200120"),
        ("310112", "闵行区", "201100"))),
    ("天津市", "天津市", "022", 4, (("120101", "和平区", "300041"), ("120103", "河西区", "300202"),
        ("120104", "南开区", "300100"))),
    ("重庆市", "重庆市", "023", 5, (("500103", "渝中区", "400010"), ("500105", "江北区", "400020"),
        ("500106", "沙坪坝区", "400030"), ("500108", "南岸区", "400060"))),
    ("广东省", "广州市", "020", 6, (("440103", "荔湾区", "510140"), ("440104", "越秀区", "510030"),
        ("440105", "海珠区", "510220"), ("440106", "天河区", "510620"), ("440111", "白云区", "510405"))),
    ("广东省", "深圳市", "0755", 6, (("440303", "罗湖区", "518001"), ("440304", "福田区", "518033"),
        ("440305", "南山区", "518057"), ("440306", "宝安区", "518101"), ("440307", "龙岗区", "518172"))),
    ("广东省", "东莞市", "0769", 3, (("441900", "南城街道", "523071"), ("441900", "东城街道", "523120"),
        ("441900", "长安镇", "523850"), ("441900", "虎门镇", "523900"))),
    ("广东省", "佛山市", "0757", 3, (("440604", "禅城区", "528000"), ("440605", "南海区", "528200"),
        ("440606", "顺德区", "528300"))),
    ("江苏省", "南京市", "025", 3, (("320102", "玄武区", "210018"), ("320104", "秦淮区", "210001"),
        ("320106", "鼓楼区", "210009"), ("320113", "栖霞区", "210046"))),
    ("江苏省", "苏州市", "0512", 4, (("320505", "虎丘区", "215011"), ("320506", "吴中区", "215128"),
        ("320507", "相城区", "215131"), ("320508", "姑苏区", "215000"))),
    ("江苏省", "无锡市", "0510", 2, (("320213", "梁溪区", "214000"), ("320214", "新吴区", "214028"))),
    ("浙江省", "杭州市", "0571", 4, (("330102", "上城区", "310002"), ("330105", "拱墅区", "310011"),
        ("330106", "西湖区", "310013"), ("330108", "滨江区", "310051"), ("330110", "余杭区", "311100"))),
    ("浙江省", "宁波市", "0574", 3, (("330203", "海曙区", "315000"), ("330212", "鄞州区", "315100"))),
    ("浙江省", "温州市", "0577", 2, (("330302", "鹿城区", "325000"), ("330304", "瓯海区", "325005"))),
    ("四川省", "成都市", "028", 6, (("510104", "锦江区", "610021"), ("510105", "青羊区", "610031"),
        ("510106", "金牛区", "610036"), ("510107", "武侯区", "610041"), ("510108", "成华区", "610051"))),
    ("湖北省", "武汉市", "027", 4, (("420102", "江岸区", "430014"), ("420103", "江汉区", "430021"),
        ("420106", "武昌区", "430061"), ("420111", "洪山区", "430070"))),
    ("湖南省", "长沙市", "0731", 3, (("430102", "芙蓉区", "410011"), ("430103", "天心区", "410004"),
        ("430104", "岳麓区", "410006"))),
    ("陕西省", "西安市", "029", 4, (("610102", "新城区", "710004"), ("610103", "碑林区", "710001"),
        ("610113", "雁塔区", "710061"))),
    ("河南省", "郑州市", "0371", 4, (("410102", "中原区", "450007"), ("410104", "管城回族区", "450000"),
        ("410105", "金水区", "450003"))),
    ("山东省", "济南市", "0531", 3, (("370102", "历下区", "250011"), ("370103", "市中区", "250001"))),
    ("山东省", "青岛市", "0532", 3, (("370202", "市南区", "266001"), ("370203", "市北区", "266011"),
        ("370212", "崂山区", "266100"))),
    ("福建省", "福州市", "0591", 2, (("350102", "鼓楼区", "350001"), ("350103", "台江区", "350004"))),
    ("福建省", "厦门市", "0592", 2, (("350203", "思明区", "361001"), ("350206", "湖里区", "361006"))),
    ("河北省", "石家庄市", "0311", 3, (("130102", "长安区", "050011"), ("130104", "桥西区", "050051"))),
    ("山西省", "太原市", "0351", 2, (("140105", "小店区", "030032"), ("140106", "迎泽区", "030002"))),
    ("内蒙古自治区", "呼和浩特市", "0471", 1, (("150102", "新城区", "010050"), ("150103", "回民区", "010030"))),
    ("辽宁省", "沈阳市", "024", 3, (("210102", "和平区", "110001"), ("210103", "沈河区", "110011"))),
    ("辽宁省", "大连市", "0411", 2, (("210202", "中山区", "116001"), ("210203", "西岗区", "116011"))),
    ("吉林省", "长春市", "0431", 2, (("220102", "南关区", "130022"), ("220104", "朝阳区", "130012"))),
    ("黑龙江省", "哈尔滨市", "0451", 3, (("230102", "道里区", "150010"), ("230103", "南岗区", "150001"))),
    ("安徽省", "合肥市", "0551", 3, (("340102", "瑶海区", "230011"), ("340104", "蜀山区", "230031"),
        ("340111", "包河区", "230041"))),
    ("江西省", "南昌市", "0791", 2, (("360102", "东湖区", "330006"), ("360103", "西湖区", "330009"))),
    ("广西壮族自治区", "南宁市", "0771", 2, (("450102", "兴宁区", "530012"), ("450103", "青秀区", "530022"))),
    ("海南省", "海口市", "0898", 1, (("460105", "秀英区", "570311"), ("460106", "龙华区", "570105"))),
    ("贵州省", "贵阳市", "0851", 2, (("520102", "南明区", "550001"), ("520103", "云岩区", "550001"))),
    ("云南省", "昆明市", "0871", 3, (("530102", "五华区", "650032"), ("530103", "盘龙区", "650051"))),
    ("西藏自治区", "拉萨市", "0891", 0.5, (("540102", "城关区", "850000"),)),
    ("甘肃省", "兰州市", "0931", 1, (("620102", "城关区", "730030"), ("620103", "七里河区", "730050"))),
    ("青海省", "西宁市", "0971", 1, (("630102", "城东区", "810007"), ("630103", "城中区", "810000"))),
    ("宁夏回族自治区", "银川市", "0951", 1, (("640104", "兴庆区", "750001"),)),
    ("新疆维吾尔自治区", "乌鲁木齐市", "0991", 1, (("650102", "天山区", "830002"), ("650103", "沙依巴克区", "830000"))),
)

STREETS = (
    "人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "胜利路", "长江路",
    "黄河路", "科技园路", "学府路", "光明路", "朝阳路", "幸福路", "东风路", "青年路", "工业大道",
    "滨江路", "环城路", "金融街", "体育路", "花园路", "迎宾大道", "延安路", "北京路", "友谊路",
    "民主路", "团结路", "复兴路", "振兴路", "创业路", "高新大道", "世纪大道", "五一路", "劳动路",
    "育才路", "滨河路", "府前街", "南门大街",
)

# The mobile number blocks of the mainland operators.
MOBILE_PREFIXES = tuple(
    [str(p) for p in range(130, 140)]
    + ["145", "147"]
    + [str(p) for p in (150, 151, 152, 153, 155, 156, 157, 158, 159, 166)]
    + [str(p) for p in range(170, 179)]
    + [str(p) for p in range(180, 190)]
    + ["191", "193", "195", "196", "197", "198", "199"]
)
EMAIL_DOMAINS = (
    ("qq.com", 40), ("163.com", 20), ("126.com", 8), ("sina.com", 5), ("139.com", 5), ("189.cn", 8),
    ("aliyun.com", 3), ("outlook.com", 4), ("gmail.com", 3), ("foxmail.com", 4),
)

BRANDS = (
    "华南", "腾达", "宏远", "鑫盛", "恒通", "金桥", "瑞丰", "天成", "永泰", "博远", "嘉禾", "中科",
    "华信", "东方", "远大", "联创", "卓越", "鼎盛", "汇通", "润达", "安泰", "昌盛", "德信", "富源",
    "光华", "国信", "海川", "宏达", "华茂", "佳和", "金鹏", "凯瑞", "利源", "明阳", "南方", "鹏程",
    "启航", "荣盛", "盛世", "泰和", "伟业", "祥瑞", "新元", "亚泰", "益华", "永兴", "志诚", "中联",
    "致远", "众合", "卓信", "智联", "云海", "星辰", "天宇", "银河", "华宇", "恒信", "广源", "锦程",
    "百川", "和信", "蓝海", "同创", "信达", "正信", "长城", "九州", "四海", "金源", "朗润", "新辰",
    "明德", "顺达", "通达", "汇丰源", "美嘉", "联合", "华美", "万通", "新天地",
)
INDUSTRIES = (
    "电子科技", "信息技术", "网络科技", "软件", "建筑工程", "建材", "物流", "国际贸易",
    "贸易", "餐饮管理", "酒店管理", "医药", "医疗器械", "教育咨询", "房地产开发", "物业管理",
    "机械制造", "精密机械", "食品", "服装", "汽车销售", "文化传媒", "广告", "环保科技",
    "新能源", "生物科技", "化工", "纺织", "家具", "电气", "通信设备", "投资",
    "企业管理咨询", "人力资源", "装饰工程", "农业科技", "供应链管理", "光电科技", "智能科技", "印刷",
)
# fmt: on
COMPANY_SUFFIXES = (("有限公司", 75), ("股份有限公司", 10), ("集团有限公司", 8), ("有限责任公司", 7))
NUMERALS = ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十")
DEALER_KINDS = ("通讯器材有限公司", "通信服务有限公司", "手机连锁有限公司", "电讯营业有限公司", "数码通讯有限公司")
SHOP_KINDS = ("通讯器材店", "手机店", "数码通讯店", "电讯代办点", "通信营业部")
# The other operators we settle interconnect traffic with: (name, parent index or None).
OPERATORS = (
    ("中国移动通信集团有限公司", None),
    ("中国联合网络通信集团有限公司", None),
    ("中国广电网络股份有限公司", None),
    ("中国移动通信集团广东有限公司", 0),
    ("中国联合网络通信有限公司广东省分公司", 1),
)
OTHER_NAMES = 0.012  # share of people with a traditional-script or romanised other name
N_MANAGERS = 100
N_DEALERS = 200

# Customer categories of the generated blocks.
IND, GROUP, DEALER, EMPLOYEE, PROSPECT = range(5)
CATEGORY_SHARES = ((IND, 0.88), (GROUP, 0.02), (DEALER, 0.01), (EMPLOYEE, 0.01), (PROSPECT, 0.08))
ACCOUNTS_OF = {IND: 1, GROUP: 1, DEALER: 1, EMPLOYEE: 1, PROSPECT: 0}

WINDOW = (date(2015, 1, 1), date(2026, 1, 1))  # customers join over these years (Beijing time)
EPOCH = date(1970, 1, 1)
DAY0 = date(1925, 1, 1)
DAY_END = date(2027, 1, 1)
TZ = 8 * 3600

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_FEISTEL_KEYS = (0x5BD1E995, 0x27D4EB2F, 0x165667B1, 0x9E3779B1)

# ---------------------------------------------------------------------------------------------
# Precomputed tables (built once per process, before workers fork)
# ---------------------------------------------------------------------------------------------

NULL_B = b"\\N"
W0, W1, WM1 = b"0", b"1", b"-1"  # search key weights
_BITS74 = (1 << 74) - 1


def _weighted(items: Sequence[tuple[Any, float]], bits: int) -> list[Any]:
    """A list of 2**bits entries in which each item appears in proportion to its weight."""
    size = 1 << bits
    total = sum(w for _, w in items)
    counts = [max(1, round(w / total * size)) for _, w in items]
    counts[counts.index(max(counts))] += size - sum(counts)
    out: list[Any] = []
    for (item, _), n in zip(items, counts, strict=True):
        out.extend([item] * n)
    return out


def _id_sum(digits: str, offset: int) -> int:
    return sum(int(c) * _ID_WEIGHTS[offset + i] for i, c in enumerate(digits))


@dataclass(frozen=True)
class _NamePart:
    """A surname or given name with its pinyin, initials and UTF-8 forms."""

    text: str
    py: str
    ini: str
    b: bytes
    py_b: bytes
    ini_b: bytes


@dataclass
class _Tables:
    surnames: list[_NamePart]  # weighted, 2**16
    single: tuple[list[_NamePart], list[_NamePart]]  # [female, male], weighted, 2**12
    popular: tuple[tuple[list[_NamePart], ...], tuple[list[_NamePart], ...]]  # [gender][era]
    first: tuple[list[str], list[str]]
    second: tuple[list[str], list[str]]
    given: dict[str, _NamePart]
    unsafe: set[str]  # full names whose pinyin/simplified form is not the sum of its parts
    cities: list[int]  # weighted city indexes, 2**12
    ages: list[int]  # weighted ages at sign-up, 2**10
    days_iso: list[str]  # DAY0 + i -> "YYYY-MM-DD"
    days_iso_b: list[bytes]
    days_id: list[str]  # -> "YYYYMMDD"
    days_sum: list[int]  # check-digit sum of the birth date part
    day_year: list[int]
    region_sum: dict[str, int]
    seq_sum: list[int]
    hms_b: list[bytes]  # second of day -> b" HH:MM:SS+08"
    hms_iso: list[str]  # second of day -> "THH:MM:SS+08:00"
    email_domains: list[str]
    suffixes: list[str]
    day0_epoch: int  # DAY0 in days since 1970-01-01


@cache
def _tables() -> _Tables:
    from pypinyin import lazy_pinyin
    from pypinyin.seg.mmseg import p_set

    from telcrm.search.keys import to_simplified

    def part(text: str) -> _NamePart:
        syllables = [p.lower() for p in lazy_pinyin(text)]
        py, ini = "".join(syllables), "".join(p[0] for p in syllables if p)
        return _NamePart(text, py, ini, text.encode(), py.encode(), ini.encode())

    surnames = {s: part(s) for s, _ in SURNAMES}
    first = (FIRST_FEMALE.split(), FIRST_MALE.split())
    second = (SECOND_FEMALE.split(), SECOND_MALE.split())
    givens: set[str] = {c for c, _ in SINGLE_FEMALE} | {c for c, _ in SINGLE_MALE}
    for gender in (0, 1):
        for names in (POPULAR_FEMALE, POPULAR_MALE)[gender]:
            givens.update(names.split())
        givens.update(a + b for a in first[gender] for b in second[gender])
    given = {g: part(g) for g in sorted(givens)}
    # A full name is "safe" when pypinyin cuts it between surname and given name (no phrase starts
    # across the boundary) and OpenCC leaves it as it is: then its keys are the sum of its parts.
    unsafe: set[str] = set()
    for fam in surnames:
        for giv in given:
            full = fam + giv
            if len(fam) != 1 or fam + giv[0] in p_set or to_simplified(full) != full:
                unsafe.add(full)
    texts = [*surnames, *given, *STREETS, *BRANDS, *INDUSTRIES, *DEALER_KINDS, *SHOP_KINDS]
    texts += [x for c in CITIES for x in (c[0], c[1], *(d[1] for d in c[4]))]
    assert not any(ch in t for t in texts for ch in '\\\t\n\r"'), "lists must need no escaping"
    days: list[date] = []
    d = DAY0
    while d < DAY_END:
        days.append(d)
        d += timedelta(days=1)
    days_id = [x.strftime("%Y%m%d") for x in days]
    regions = {code for *_, districts in CITIES for code, _, _ in districts}
    ages = [(a, 3.0 if 25 <= a <= 45 else 2.0 if a < 60 else 1.0 if a < 75 else 0.4) for a in range(18, 86)]
    tables = _Tables(
        surnames=_weighted([(surnames[s], w) for s, w in SURNAMES], 16),
        single=(
            _weighted([(given[c], w) for c, w in SINGLE_FEMALE], 12),
            _weighted([(given[c], w) for c, w in SINGLE_MALE], 12),
        ),
        popular=(
            tuple([given[n] for n in era.split()] for era in POPULAR_FEMALE),
            tuple([given[n] for n in era.split()] for era in POPULAR_MALE),
        ),
        first=first,
        second=second,
        given=given,
        unsafe=unsafe,
        cities=_weighted([(i, c[3]) for i, c in enumerate(CITIES)], 12),
        ages=_weighted(ages, 10),
        days_iso=[x.isoformat() for x in days],
        days_iso_b=[x.isoformat().encode() for x in days],
        days_id=days_id,
        days_sum=[_id_sum(x, 6) for x in days_id],
        day_year=[x.year for x in days],
        region_sum={r: _id_sum(r, 0) for r in regions},
        seq_sum=[_id_sum(f"{i:03d}", 14) for i in range(1000)],
        hms_b=[f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08".encode() for s in range(86400)],
        hms_iso=[f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+08:00" for s in range(86400)],
        email_domains=_weighted(EMAIL_DOMAINS, 8),
        suffixes=_weighted(COMPANY_SUFFIXES, 8),
        day0_epoch=(DAY0 - EPOCH).days,
    )
    sample = "110105" + days_id[20000] + "123"
    assert _ID_CHECK[(tables.region_sum["110105"] + tables.days_sum[20000] + tables.seq_sum[123]) % 11] == (
        id_check_char(sample)
    )
    return tables


def _feistel(x: int) -> int:
    """A keyed permutation of 0..10**8-1."""
    left, right = divmod(x, 10000)
    for key in _FEISTEL_KEYS:
        left, right = right, (left + ((right * 7919 + key) * 2654435761 >> 13)) % 10000
    return left * 10000 + right


def mobile_number(person: int) -> str:
    """The mobile number of a person number: distinct person numbers never share a number."""
    high, prefix = divmod(person, len(MOBILE_PREFIXES))
    return f"{MOBILE_PREFIXES[prefix]}{_feistel(high):08d}"


def _uuid(ms: int, bits: int) -> str:
    """A UUIDv7 (as ``telcrm.kit.ids.new_id`` makes) from a time in ms and 74 random bits."""
    value = (ms & 0xFFFFFFFFFFFF) << 80 | 0x7 << 76 | (bits >> 62) << 64 | 0x2 << 62 | (bits & 0x3FFFFFFFFFFFFFFF)
    h = value.to_bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _json(doc: dict[str, Any]) -> bytes:
    """A document in COPY text format (orjson escapes control characters; double backslashes)."""
    data = orjson.dumps(doc)
    return data.replace(b"\\", b"\\\\") if b"\\" in data else data


def _text(value: str) -> bytes:
    """A text column in COPY text format."""
    data = value.encode()
    if b"\\" in data or b"\t" in data or b"\n" in data or b"\r" in data:
        data = data.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\n", b"\\n").replace(b"\r", b"\\r")
    return data


def _frags(keys: Iterable[tuple[str, str, int]]) -> list[tuple[bytes, bytes]]:
    """Search keys as ``(b"key\\tkind", b"weight")`` pieces of COPY lines, without duplicates or blanks."""
    return [(_text(key[:200]) + b"\t" + kind.encode(), str(w).encode()) for kind, key, w in dict.fromkeys(keys) if key]


def _org_code(digits: str) -> str:
    """The 9-character organisation code (GB 11714) inside a credit code: 8 digits and a check."""
    c = 11 - sum(int(d) * w for d, w in zip(digits, _ORG_WEIGHTS, strict=True)) % 11
    return digits + ("X" if c == 10 else "0" if c == 11 else str(c))


@cache
def _s2t() -> Any:
    import opencc

    return opencc.OpenCC("s2t.json")


def _traditional(name: str) -> str:
    return str(_s2t().convert(name))


_name_memo: dict[str, tuple[list[tuple[str, str, int]], list[tuple[str, str]]]] = {}
_plain_memo: dict[str, list[tuple[str, str]]] = {}


def _slow_name_keys(name: str, fam: str, giv: str) -> tuple[list[tuple[str, str, int]], list[tuple[str, str]]]:
    """Keys of an unusual name, computed by the search code itself."""
    found = _name_memo.get(name + "|" + fam)
    if found is None:
        full = name_keys(name)
        keys = [(k, v, 0) for k, v in name_keys(name, family=fam, given=giv)] + [(k, v, 0) for k, v in full]
        found = _name_memo[name + "|" + fam] = (keys, full)
    return found


def _plain_name_keys(name: str) -> list[tuple[str, str]]:
    found = _plain_memo.get(name)
    if found is None:
        found = _plain_memo[name] = name_keys(name)
    return found


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------

Ref = tuple[str, str, bytes]  # (party id, name, party id as bytes)


@dataclass
class _Staff:
    managers: list[Ref]
    dealers: list[Ref]
    dealers_by_city: dict[str, list[Ref]]


@dataclass
class _Job:
    seed: int
    start: int  # first customer number of this run
    count: int  # customers generated in blocks
    blocks: list[tuple[int, int, int]]  # (first customer number, customers, first account number)
    staff: _Staff
    refs: dict[str, str]  # reference item id -> name
    bill_structures: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)


class _Party:
    """A generated party: its document and the pieces its rows and search keys are made of."""

    __slots__ = (
        "body",
        "city",
        "email",
        "id",
        "id_b",
        "keys",
        "kind_b",
        "landline",
        "mobile",
        "name",
        "name_b",
        "name_keys",
    )

    def __init__(
        self,
        id_: str,
        name: str,
        name_b: bytes,
        body: dict[str, Any],
        keys: list[tuple[bytes, bytes]],  # the party's own search keys
        name_keys: list[bytes],  # b"key\tkind" of the name alone (customer and user keys)
        city: int,
        mobile: str = "",
        email: bool = False,
        landline: str = "",
    ) -> None:
        self.id, self.id_b, self.name, self.name_b = id_, id_.encode(), name, name_b
        self.landline = landline
        self.kind_b = body["@type"].encode()
        self.body, self.keys, self.name_keys, self.city, self.mobile, self.email = (
            body,
            keys,
            name_keys,
            city,
            mobile,
            email,
        )

    @property
    def ref(self) -> Ref:
        return (self.id, self.name, self.id_b)


@dataclass
class _Rows:
    party: list[bytes] = field(default_factory=list)
    customer: list[bytes] = field(default_factory=list)
    party_role: list[bytes] = field(default_factory=list)
    account: list[bytes] = field(default_factory=list)
    customer_user: list[bytes] = field(default_factory=list)
    product: list[bytes] = field(default_factory=list)
    product_order: list[bytes] = field(default_factory=list)
    work_order: list[bytes] = field(default_factory=list)
    search_key: list[bytes] = field(default_factory=list)
    customers: int = 0
    ids: list[str] = field(default_factory=list)  # resident ID number + party id, to find duplicates

    def joined(self) -> dict[str, bytes]:
        return {t: b"\n".join(rows) + b"\n" for t in TABLES if (rows := getattr(self, t))}

    def counts(self) -> dict[str, int]:
        return {t: len(getattr(self, t)) for t in TABLES}


_CATEGORY_TABLE = _weighted(CATEGORY_SHARES, 12)


def _categories(seed: int, first: int, count: int) -> list[int]:
    """The customer categories of a block: a stream of its own, so that the parent can count the
    accounts of every block (and so number them) without generating it."""
    bits = Random(f"telcrm-demo/{seed}/{first}/category").getrandbits
    return [_CATEGORY_TABLE[bits(12)] for _ in range(count)]


_CHARACTERISTICS: dict[tuple[str, str, str], list[dict[str, str]]] = {}
_VIP_CREDIT = {"silver": 1000, "gold": 2000, "platinum": 5000, "diamond": 10000}


def _characteristic(category: str, vip: str, channel: str) -> list[dict[str, str]]:
    key = (category, vip, channel)
    found = _CHARACTERISTICS.get(key)
    if found is None:
        found = _CHARACTERISTICS[key] = [
            {"name": "customerCategory", "value": category},
            {"name": "vipLevel", "value": vip},
            {"name": "acquisitionChannel", "value": channel},
        ]
    return found


# ---------------------------------------------------------------------------------------------
# Products and orders: the demo catalog's offerings, as the references a product carries
# ---------------------------------------------------------------------------------------------

# Number pool (选号): blocks that never hold a generated number. Mobile numbers of users use
# MOBILE_PREFIXES only; generated landlines have a local part from 20000000 to 89999999.
POOL_MOBILE_PREFIX = "190"
POOL_FIXED_DIGIT = "9"
assert POOL_MOBILE_PREFIX not in MOBILE_PREFIXES


@dataclass(frozen=True)
class _Offer:
    """A product offering of the demo catalog with the references and prices its products carry."""

    id: str
    name: str
    id_b: bytes
    name_b: bytes
    ref: dict[str, str]  # productOffering
    spec: dict[str, str] | None  # productSpecification (none for bundles)
    prices: list[dict[str, Any]]  # productPrice
    is_bundle: bool
    install: bool  # needs a visit (broadband, fixed line, leased line): completed days later
    head: bytes  # the document's attributes that come from the offering, without the closing brace
    item: bytes  # the middle of an order item for it: from after its id to the product's id
    domain: bytes  # the network domain that provisions it (its specification's networkDomain)
    tasks: tuple[bytes, ...]  # the work orders (派单) fulfilment made for it, in order; none for a bundle


@cache
def _offers() -> dict[str, _Offer]:
    """The demo catalog (``telcrm.demo.catalog``) as product building blocks, built once."""
    from telcrm.catalog.service import network_domain
    from telcrm.demo import catalog
    from telcrm.ordering.fulfilment import GENERIC, add_tasks

    items = catalog._items()
    docs = {(kind, id_): doc for kind, id_, doc in items}
    offers: dict[str, _Offer] = {}
    for kind, id_, doc in items:
        if kind != "ProductOffering":
            continue
        prices = []
        for ref in doc["productOfferingPrice"]:
            price = docs[("ProductOfferingPrice", ref["id"])]
            if price["priceType"] not in ("recurring", "oneTime", "discount"):
                continue  # usage and allowances are rated, not charged as such
            amount: dict[str, Any] = {"taxIncludedAmount": {"unit": "CNY", "value": price["price"]["value"]}}
            if "percentage" in price:
                amount["percentage"] = price["percentage"]
            entry: dict[str, Any] = {"priceType": price["priceType"]}
            if price.get("recurringChargePeriodType") == "month":
                entry["recurringChargePeriod"] = "month"
            entry["price"] = amount
            entry["productOfferingPrice"] = {
                "id": ref["id"],
                "name": price["name"],
                "@referredType": "ProductOfferingPrice",
            }
            prices.append(entry)
        spec = doc.get("productSpecification")
        domain = (network_domain(docs.get(("ProductSpecification", spec["id"]))) if spec else None) or GENERIC
        ref = {"id": id_, "name": doc["name"], "@referredType": "ProductOffering"}
        head: dict[str, Any] = {
            "@type": "Product",
            "name": doc["name"],
            "isBundle": bool(doc.get("isBundle")),
            "isCustomerVisible": True,
            "productOffering": ref,
        }
        if spec:
            head["productSpecification"] = dict(spec)
        head["productPrice"] = prices
        offers[id_] = _Offer(
            id=id_,
            name=doc["name"],
            id_b=id_.encode(),
            name_b=_text(doc["name"][:400]),
            ref=ref,
            spec=dict(spec) if spec else None,
            prices=prices,
            is_bundle=bool(doc.get("isBundle")),
            install=id_.startswith(("po-broadband", "po-local-line", "po-leased", "po-iptv")),
            head=_json(head)[:-1],
            item=b'","quantity":1,"action":"add","state":"completed","productOffering":'
            + _json(ref)
            + b',"product":{"id":"',
            domain=domain.encode(),
            tasks=() if doc.get("isBundle") else tuple(t.encode() for t in add_tasks(domain)),
        )
    return offers


_RESOURCE_CITIES = ("BJ", "SH", "GZ", "SZ", "CD", "HZ", "WH", "XA", "NJ", "TJ")


def _resource(task: bytes, seed: int) -> dict[str, str]:
    """What a provisioning system reported having set up for a task (as the simulator's results)."""
    digits = f"{seed % 10**16:016d}"
    city = _RESOURCE_CITIES[seed % len(_RESOURCE_CITIES)]
    if task == b"sim":
        return {"iccid": "8986" + digits, "imsi": "46000" + digits[:10]}
    if task == b"number":
        return {"hlr": f"HLR-{city}-{seed % 12 + 1:02d}"}
    if task == b"port":
        return {
            "olt": f"OLT-{city}-{seed % 400 + 1:03d}",
            "port": f"0/{seed % 16 + 1}/{seed % 15}",
            "account": "bb" + digits[:10],
        }
    if task == b"switch":
        equipment = f"LE-{seed % 8 + 1}-{seed % 16 + 1:02d}-{seed % 64:02d}"
        return {"switch": f"SW-{city}-{seed % 30 + 1:02d}", "lineEquipment": equipment}
    if task == b"appointment":
        return {"appointment": "confirmed", "engineer": f"ENG-{city}-{digits[:4]}"}
    return {"platformId": f"PF-{city}-{digits[:10]}"}


_CHARS_HEAD = b',"productCharacteristic":'


def _chars(*pairs: tuple[str, str]) -> bytes:
    """``productCharacteristic`` as a piece of a product document (values need no escaping)."""
    chars = [{"name": n, "valueType": "string", "value": v} for n, v in pairs]
    return _CHARS_HEAD + orjson.dumps(chars)


# Characteristics that do not depend on the customer, shared by all products that have them.
_BANDWIDTH = {s: _chars(("bandwidth", s.upper())) for s in ("100m", "300m", "1000m")}
_IPTV = (_chars(("resolution", "HD")), _chars(("resolution", "4K")))
_LD = _chars(("scope", "domestic"))
_CALLER_ID = _chars(("feature", "callerId"))
_RINGBACK = _chars(("feature", "ringbackTone"))
_LEASED = _chars(("bandwidth", "100M"))
# (offering, user id, characteristics (a piece of the document), service numbers, children)
_Item = tuple[str, str, bytes, tuple[str, ...], list[Any]]
ORDER_CHANNELS = {
    "hall": {"id": "hall", "name": "营业厅 retail hall", "@referredType": "Channel"},
    "web": {"id": "web", "name": "网上营业厅 web hall", "@referredType": "Channel"},
    "callCenter": {"id": "callCenter", "name": "10000号 call center", "@referredType": "Channel"},
    "dealer": {"id": "dealer", "name": "代理商 dealer", "@referredType": "Channel"},
}
# The customer's acquisition channel -> the channel of its first order.
_ORDER_CHANNEL = {
    "hall": "hall",
    "webHall": "web",
    "callCenter": "callCenter",
    "dealer": "dealer",
    "accountManager": "hall",
}


_ORDER_CHANNEL_JSON = {k: b',"channel":[' + orjson.dumps(v) + b"]" for k, v in ORDER_CHANNELS.items()}
_ITEM_END = b'","orderItemAction":"add","@referredType":"ProductOrderItem"}]'
_PRODUCT_REF = b'"@referredType":"Product"'


def _number_keys(number: str) -> list[bytes]:
    """``phone_keys`` of a generated number: a mobile number, or a landline written 0AAA-LLLLLLLL."""
    if "-" in number:
        area, local = number.split("-")
        return [(area + local).encode(), local.encode()]
    return [number.encode()]


class _Order:
    """The order being generated: what its products repeat, as pieces of their documents and rows."""

    __slots__ = ("account_b", "cid", "cidb", "dates", "done", "id", "idb", "items", "party", "placed", "scope", "tail")

    def __init__(
        self, id_: str, placed: int, date: str, done_iso: str, done: int, cid: str, aid: str, scope: bytes
    ) -> None:
        self.id, self.idb, self.placed, self.done, self.scope = id_, id_.encode(), placed, done, scope
        self.cid, self.cidb = cid, cid.encode()
        self.account_b = b"\t" + aid.encode() + b"\t"
        self.dates = f'","orderDate":"{date}","startDate":"{done_iso}"'.encode()
        self.party = f',"relatedParty":[{{"id":"{cid}","role":"customer","@referredType":"Customer"}},{{"id":"'.encode()
        self.tail = (
            f'","role":"user","@referredType":"User"}}],"billingAccount":{{"id":"{aid}",'
            f'"@referredType":"BillingAccount"}},"productOrderItem":[{{"productOrderId":"{id_}","orderItemId":"'
        ).encode()
        self.items = 0


class _Gen:
    """Generates people, organisations, customers and everything they own into ``rows``."""

    def __init__(self, job: _Job, rnd: Random, rows: _Rows, prnd: Random | None = None) -> None:
        self.job = job
        self.t = _tables()
        self.rnd = rnd
        self.prnd = prnd or rnd  # products and orders: a stream of their own
        self.rows = rows

    # ----- small helpers -------------------------------------------------------------------
    def ts(self, sec: int) -> bytes:
        local = sec + TZ
        return self.t.days_iso_b[local // 86400 - self.t.day0_epoch] + self.t.hms_b[local % 86400]

    def uuid(self, sec: int) -> str:
        bits = self.rnd.getrandbits(84)
        return _uuid(sec * 1000 + (bits >> 74) % 1000, bits & _BITS74)

    def pick(self, items: Sequence[Any]) -> Any:
        return items[int(self.rnd.random() * len(items))]

    def keys(self, ref: bytes, customer: bytes, keys: list[tuple[bytes, bytes]]) -> None:
        tail = b"\t" + ref + b"\t" + customer + b"\t"
        self.rows.search_key.extend([frag + tail + w for frag, w in keys])

    def name_keys(self, ref: bytes, customer: bytes, frags: list[bytes], weight: bytes) -> None:
        tail = b"\t" + ref + b"\t" + customer + b"\t" + weight
        self.rows.search_key.extend([frag + tail for frag in frags])

    def address(self, city: int, residential: bool) -> dict[str, Any]:
        province, city_name, _, _, districts = CITIES[city]
        _, district, post = self.pick(districts)
        rand = self.rnd.random
        street = f"{district}{self.pick(STREETS)}{int(rand() * 300) + 1}号"
        if residential and rand() < 0.8:
            floor, room = int(rand() * 30) + 1, int(rand() * 4) + 1
            street += f"{int(rand() * 30) + 1}栋{int(rand() * 4) + 1}单元{floor}{room:02d}室"
        elif not residential and rand() < 0.6:
            street += f"{self.pick(BRANDS)}大厦{int(rand() * 30) + 1}层"
        return {
            "mediumType": "postalAddress",
            "characteristic": {
                "country": "CN",
                "stateOrProvince": province,
                "city": city_name,
                "street1": street,
                "postCode": post,
            },
        }

    def landline(self, city: int) -> tuple[str, list[tuple[bytes, bytes]]]:
        """A landline number of ``city`` and its search keys (the local part ranks lower)."""
        area = CITIES[city][2]
        local = str(int(self.rnd.random() * 70000000) + 20000000)
        return f"{area}-{local}", [((area + local).encode() + b"\tphone", W0), (local.encode() + b"\tphone", WM1)]

    # ----- people ---------------------------------------------------------------------------
    def given(self, male: int, era: int) -> _NamePart:
        t, rand = self.t, self.rnd.random
        r = rand()
        if r < (0.35, 0.25, 0.12)[era]:
            return t.single[male][self.rnd.getrandbits(12)]
        if r < 0.6:
            names = t.popular[male][era]
            return names[int(rand() * len(names))]
        firsts, seconds = t.first[male], t.second[male]
        return t.given[firsts[int(rand() * len(firsts))] + seconds[int(rand() * len(seconds))]]

    def person(
        self,
        person_no: int,
        sec: int,
        *,
        real_name: bool = True,
        landline: float = 0.25,
        email: float = 0.3,
        address: float = 1.0,
        other_names: bool = True,
    ) -> _Party:
        t, rnd = self.t, self.rnd
        rand, bits = rnd.random, rnd.getrandbits
        male = bits(1)
        day = (sec + TZ) // 86400 - t.day0_epoch
        birth = day - t.ages[bits(10)] * 365 - int(rand() * 365)
        year = t.day_year[birth]
        fam = t.surnames[bits(16)]
        giv = self.given(male, 0 if year < 1970 else 1 if year < 1990 else 2)
        name = fam.text + giv.text
        keys: list[tuple[bytes, bytes]]
        if name in t.unsafe:
            slow, full = _slow_name_keys(name, fam.text, giv.text)
            keys = _frags(slow)
            name_frags = [frag for frag, _ in _frags((k, v, 0) for k, v in full)]
        else:
            name_f = fam.b + giv.b + b"\tname"
            a = fam.py_b + giv.py_b + b"\tpy"
            ini = fam.ini_b + giv.ini_b + b"\tini"
            name_frags = [name_f, a, ini]
            b = giv.py_b + fam.py_b + b"\tpy"
            keys = [(name_f, W0), (a, W0), (b, W0), (ini, W0)] if a != b else [(name_f, W0), (a, W0), (ini, W0)]
        city = t.cities[bits(12)]
        mobile = mobile_number(person_no)
        media: list[dict[str, Any]] = [
            {"mediumType": "mobile", "preferred": True, "characteristic": {"phoneNumber": mobile}}
        ]
        contact: list[tuple[bytes, bytes]] = [(mobile.encode() + b"\tphone", W0)]
        phone = ""
        if rand() < landline:
            phone, number_keys = self.landline(city)
            media.append({"mediumType": "phone", "characteristic": {"phoneNumber": phone}})
            contact += number_keys
        has_email = rand() < email
        if has_email:
            domain = t.email_domains[bits(8)]
            if domain == "qq.com" and rand() < 0.7:
                user = str(int(rand() * 3_000_000_000) + 10_000_000)
            else:
                user = fam.py + giv.py + (str(int(rand() * 9000) + 100) if rand() < 0.8 else str(year))
            media.append({"mediumType": "email", "characteristic": {"emailAddress": f"{user}@{domain}"}})
        if rand() < address:
            media.append(self.address(city, True))
        pid = self.uuid(sec)
        body: dict[str, Any] = {
            "id": pid,
            "@type": "Individual",
            "givenName": giv.text,
            "familyName": fam.text,
            "fullName": name,
            "gender": "male" if male else "female",
            "birthDate": t.days_iso[birth] + "T00:00:00+08:00",
            "nationality": "CN",
            "status": "validated" if real_name else "initialized",
            "contactMedium": media,
        }
        if real_name:
            # Most people live where they were born; the ID number carries the birthplace.
            home = city if rand() < 0.75 else t.cities[bits(12)]
            region, district, _ = self.pick(CITIES[home][4])
            seq = int(rand() * 500) * 2 + male  # odd for men, even for women
            number = f"{region}{t.days_id[birth]}{seq:03d}"
            number += _ID_CHECK[(t.region_sum[region] + t.days_sum[birth] + t.seq_sum[seq]) % 11]
            body["individualIdentification"] = [
                {
                    "identificationType": "residentIdCard",
                    "identificationId": number,
                    "issuingAuthority": f"{CITIES[home][1]}公安局{district}分局",
                }
            ]
            contact.append((number.encode() + b"\tid", W0))
            self.rows.ids.append(number + pid)
        if other_names:
            r = rand()
            if r < OTHER_NAMES / 2:  # a traditional-script name (Hong Kong, Macao, Taiwan, overseas)
                other = _traditional(name)
                if other != name:
                    body["otherName"] = [{"fullName": other}]
                    keys = self.merge(keys, [(k, v, 0) for k, v in _plain_name_keys(other)])
            elif r < OTHER_NAMES:  # a romanised name, as in a passport
                fam_r, giv_r = fam.py.capitalize(), giv.py.capitalize()
                body["otherName"] = [{"familyName": fam_r, "givenName": giv_r, "fullName": f"{giv_r} {fam_r}"}]
                extra = name_keys(fam_r + giv_r, family=fam_r, given=giv_r) + _plain_name_keys(f"{giv_r} {fam_r}")
                keys = self.merge(keys, [(k, v, 0) for k, v in extra])
        keys += contact
        return _Party(pid, name, fam.b + giv.b, body, keys, name_frags, city, mobile, has_email, phone)

    @staticmethod
    def merge(keys: list[tuple[bytes, bytes]], more: list[tuple[str, str, int]]) -> list[tuple[bytes, bytes]]:
        return list(dict.fromkeys(keys + _frags(more)))

    # ----- organisations --------------------------------------------------------------------
    def org_name(self, city: int, kind: str) -> tuple[str, str]:
        """A name and the credit code prefix (registration authority and type) for ``kind``."""
        city_name = CITIES[city][1]
        if kind == "dealer":
            return f"{city_name}{self.pick(BRANDS)}{self.pick(DEALER_KINDS)}", "91"
        if kind == "shop":
            district = self.pick(CITIES[city][4])[1]
            return f"{city_name}{district}{self.pick(BRANDS)}{self.pick(SHOP_KINDS)}", "92"
        r = self.rnd.random()
        if r < 0.04:
            return f"{city_name}第{self.pick(NUMERALS)}人民医院", "12"
        if r < 0.07:
            return f"{city_name}第{self.pick(NUMERALS)}中学", "12"
        if r < 0.10:
            district = self.pick(CITIES[city][4])[1]
            return f"{city_name}{district}{self.pick(('教育局', '市场监督管理局', '人民法院', '卫生健康局'))}", "11"
        suffix = self.t.suffixes[self.rnd.getrandbits(8)]
        return f"{city_name}{self.pick(BRANDS)}{self.pick(INDUSTRIES)}{suffix}", "91"

    def org(
        self,
        sec: int,
        name: str,
        code_prefix: str,
        city: int,
        *,
        parent: _Party | None = None,
        org_type: str = "company",
    ) -> _Party:
        rand = self.rnd.random
        region = self.pick(CITIES[city][4])[0]
        first = f"{code_prefix}{region}{_org_code(f'{int(rand() * 100_000_000):08d}')}"
        credit_code = first + uscc_check_char(first)
        phone, phone_keys = self.landline(city)
        oid = self.uuid(sec)
        body: dict[str, Any] = {
            "id": oid,
            "@type": "Organization",
            "name": name,
            "tradingName": name,
            "isLegalEntity": True,
            "organizationType": org_type,
            "status": "validated",
            "organizationIdentification": [
                {
                    "identificationType": "USCC",
                    "identificationId": credit_code,
                    "issuingAuthority": f"{CITIES[city][1]}市场监督管理局",
                }
            ],
            "contactMedium": [
                {"mediumType": "phone", "preferred": True, "characteristic": {"phoneNumber": phone}},
                self.address(city, False),
            ],
        }
        if parent is not None:
            body["isHeadOffice"] = False
            body["organizationParentRelationship"] = {
                "relationshipType": "branch",
                "organization": {"id": parent.id, "name": parent.name, "@referredType": "Organization"},
            }
        full = [frag for frag, _ in _frags((k, v, 0) for k, v in _plain_name_keys(name))]
        keys = [(frag, W0) for frag in full] + phone_keys + [(credit_code.encode() + b"\tid", W0)]
        return _Party(oid, name, _text(name), body, keys, full, city)

    # ----- rows -----------------------------------------------------------------------------
    def party_row(
        self, p: _Party, sec: int, customer: bytes, dealer: bytes, manager: bytes, parent: str | None = None
    ) -> None:
        ts = self.ts(sec)
        idb = p.id_b
        self.rows.party.append(
            b"\t".join(
                (
                    idb,
                    p.kind_b,
                    p.body["status"].encode(),
                    p.name_b,
                    parent.encode() if parent else NULL_B,
                    _json(p.body),
                    b"1",
                    ts,
                    ts,
                    customer,
                    dealer,
                    manager,
                )
            )
        )
        self.keys(idb, customer, p.keys)

    def customer_row(
        self,
        cid: str,
        sec: int,
        party: _Party,
        *,
        category: str,
        status: str,
        vip: str,
        channel: str,
        manager: Ref | None,
        dealer: Ref | None,
        accounts: list[tuple[str, str]],
        reason: str | None = None,
    ) -> None:
        kind = party.body["@type"]
        body: dict[str, Any] = {
            "id": cid,
            "@type": "Customer",
            "name": party.name,
            "status": status,
            "engagedParty": {"id": party.id, "name": party.name, "@referredType": kind},
            "characteristic": _characteristic(category, vip, channel),
        }
        if reason:
            body["statusReason"] = reason
        if manager is not None or dealer is not None:
            related = []
            if manager is not None:
                related.append(
                    {"id": manager[0], "role": "accountManager", "@referredType": "Individual", "name": manager[1]}
                )
            if dealer is not None:
                related.append({"id": dealer[0], "role": "dealer", "@referredType": "Organization", "name": dealer[1]})
            body["relatedParty"] = related
        if accounts:
            body["account"] = [{"id": a, "name": n} for a, n in accounts]
        ts = self.ts(sec)
        cidb = cid.encode()
        self.rows.customer.append(
            b"\t".join(
                (
                    cidb,
                    party.name_b,
                    status.encode(),
                    category.encode(),
                    vip.encode(),
                    party.id_b,
                    party.kind_b,
                    _json(body),
                    b"1",
                    ts,
                    ts,
                    cidb,
                    dealer[2] if dealer else NULL_B,
                    manager[2] if manager else NULL_B,
                )
            )
        )
        self.rows.search_key.append(cidb + b"\tnum\t" + cidb + b"\t" + cidb + b"\t0")
        self.name_keys(cidb, cidb, party.name_keys, W1)

    def account_row(
        self,
        aid: str,
        sec: int,
        *,
        kind: str,
        name: str,
        account_type: str | None,
        owner: tuple[str, str, str],  # (id, name, @referredType)
        owner_role: str,
        customer: bytes,
        dealer: bytes,
        manager: bytes,
        credit: int | None = None,
        billing: bool = True,
        email: bool = False,
    ) -> None:
        body: dict[str, Any] = {"id": aid, "@type": kind, "name": name, "state": "active"}
        if account_type:
            body["accountType"] = account_type
        body["relatedParty"] = [{"id": owner[0], "name": owner[1], "@referredType": owner[2], "role": owner_role}]
        if billing:
            rand = self.rnd.random
            r = rand()
            day = "01" if r < 0.55 else self.pick(("05", "10", "15", "20", "25"))
            fmt = "std-bf-detailed" if rand() < 0.2 else "std-bf-summary"
            r = rand()
            if email and r < 0.4:
                media = "std-bpm-email"
            else:
                media = "std-bpm-sms" if r < 0.7 else "std-bpm-webhall" if r < 0.92 else "std-bpm-paper"
            body["billStructure"] = self.bill_structure(f"std-bcs-monthly-{day}", fmt, media)
        if credit is not None:
            body["creditLimit"] = {"unit": "CNY", "value": credit}
        ts = self.ts(sec)
        aidb = aid.encode()
        self.rows.account.append(
            b"\t".join(
                (
                    aidb,
                    kind.encode(),
                    _text(name),
                    b"active",
                    account_type.encode() if account_type else NULL_B,
                    customer,
                    _json(body),
                    b"1",
                    ts,
                    ts,
                    customer,
                    dealer,
                    manager,
                )
            )
        )
        self.rows.search_key.append(aidb + b"\tnum\t" + aidb + b"\t" + customer + b"\t0")

    def bill_structure(self, cycle: str, fmt: str, media: str) -> dict[str, Any]:
        key = (cycle, fmt, media)
        found = self.job.bill_structures.get(key)
        if found is None:
            refs = self.job.refs
            found = self.job.bill_structures[key] = {
                "cycleSpecification": {"id": cycle, "name": refs.get(cycle, cycle)},
                "format": {"id": fmt, "name": refs.get(fmt, fmt)},
                "presentationMedia": [{"id": media, "name": refs.get(media, media)}],
            }
        return found

    def user_row(
        self,
        sec: int,
        person: _Party,
        account: str,
        customer: tuple[str, str, bytes],  # (id, name, id as bytes)
        dealer: bytes,
        manager: bytes,
        status: str = "active",
    ) -> str:
        uid = self.uuid(sec)
        body = {
            "id": uid,
            "@type": "User",
            "name": person.name,
            "status": status,
            "phoneNumber": person.mobile,
            "party": {"id": person.id},
            "billingAccount": {"id": account},
            "customer": {"id": customer[0], "name": customer[1]},
        }
        ts = self.ts(sec)
        uidb = uid.encode()
        self.rows.customer_user.append(
            b"\t".join(
                (
                    uidb,
                    person.name_b,
                    status.encode(),
                    person.id_b,
                    account.encode(),
                    _json(body),
                    b"1",
                    ts,
                    ts,
                    customer[2],
                    dealer,
                    manager,
                )
            )
        )
        self.name_keys(uidb, customer[2], person.name_keys, WM1)
        self.rows.search_key.append(person.mobile.encode() + b"\tphone\t" + uidb + b"\t" + customer[2] + b"\t0")
        return uid

    def role_row(
        self,
        sec: int,
        role: str,
        party: _Party,
        customer: bytes,
        dealer: bytes,
        manager: bytes,
        accounts: Sequence[tuple[str, str]] = (),
    ) -> None:
        rid = self.uuid(sec)
        body: dict[str, Any] = {
            "id": rid,
            "@type": "PartyRole",
            "name": role,
            "status": "active",
            "engagedParty": {"id": party.id, "name": party.name, "@referredType": party.body["@type"]},
        }
        if accounts:
            body["account"] = [{"id": a, "name": n, "@referredType": "SettlementAccount"} for a, n in accounts]
        ts = self.ts(sec)
        role_b = role.encode()
        self.rows.party_role.append(
            b"\t".join(
                (
                    rid.encode(),
                    role_b,
                    role_b,
                    b"active",
                    party.id_b,
                    _json(body),
                    b"1",
                    ts,
                    ts,
                    customer,
                    dealer,
                    manager,
                )
            )
        )

    # ----- products and the order that created them ------------------------------------------
    def iso(self, sec: int) -> str:
        local = sec + TZ
        return self.t.days_iso[local // 86400 - self.t.day0_epoch] + self.t.hms_iso[local % 86400]

    def puuid(self, sec: int) -> str:
        bits = self.prnd.getrandbits(84)
        return _uuid(sec * 1000 + (bits >> 74) % 1000, bits & _BITS74)

    def mobile_plan(self, uid: str, mobile: str, fee: str = "") -> _Item:
        rand = self.prnd.random
        if not fee:
            r = rand()
            fee = "59" if r < 0.5 else "99" if r < 0.85 else "199"
        network = "5G" if rand() < 0.7 else "4G"
        return (f"po-mobile-{fee}", uid, _chars(("serviceNumber", mobile), ("network", network)), (mobile,), [])

    def broadband(self, uid: str, speed: str = "") -> _Item:
        if not speed:
            r = self.prnd.random()
            speed = "100m" if r < 0.4 else "300m" if r < 0.8 else "1000m"
        return (f"po-broadband-{speed}", uid, _BANDWIDTH[speed], (), [])

    def household(self, person: _Party, uid: str) -> list[_Item]:
        """What an individual customer has: a mobile plan, often broadband, a fixed line, IPTV, options."""
        rand = self.prnd.random
        if rand() < 0.03:
            iptv: _Item = ("po-iptv", uid, _IPTV[rand() < 0.3], (), [])
            parts = [self.mobile_plan(uid, person.mobile, "99"), self.broadband(uid, "300m"), iptv]
            return [("po-bundle-converged", uid, b"", (), parts)]
        items = [self.mobile_plan(uid, person.mobile)]
        land = person.landline
        has_broadband = False
        if land and rand() < 0.25:
            local: _Item = (
                "po-local-line",
                uid,
                _chars(("serviceNumber", land), ("lineType", "residential")),
                (land,),
                [],
            )
            r = rand()
            if r < 0.4:
                has_broadband = True
                items.append(("po-bundle-line-broadband", uid, b"", (), [self.broadband(uid, "300m"), local]))
            elif r < 0.55:
                items.append(("po-bundle-local-ld", uid, b"", (), [local, ("po-long-distance", uid, _LD, (), [])]))
            else:
                items.append(local)
            if rand() < 0.2:
                items.append(("po-caller-id", uid, _CALLER_ID, (), []))
        if not has_broadband and rand() < 0.1:
            items.append(self.broadband(uid))
            if rand() < 0.2:
                items.append(("po-iptv", uid, _IPTV[rand() < 0.3], (), []))
        if rand() < 0.03:
            items.append(("po-ringback", uid, _RINGBACK, (), []))
        return items

    def sell(
        self,
        customer: tuple[str, bytes, bytes, bytes],  # (id, id as bytes, dealer, manager)
        aid: str,
        sec: int,
        items: list[_Item],
        *,
        b2b: bool,
        channel: str,
        suspended: bool = False,
    ) -> None:
        """The completed order placed at ``sec`` that created ``items``, and the products it created."""
        offers = _offers()
        rand = self.prnd.random
        cid, cidb = customer[0], customer[1]
        install = any(offers[i[0]].install or any(offers[c[0]].install for c in i[4]) for i in items)
        done = sec + (86400 + int(rand() * 2 * 86400) if install else 300 + int(rand() * 3600))
        oid = self.puuid(sec)
        order_iso, done_iso = self.iso(sec), self.iso(done)
        order = _Order(oid, sec, order_iso, done_iso, done, cid, aid, b"\t".join(customer[1:]))
        order_items = []
        for item in items:
            status, change = "active", done
            if suspended:
                status, change = "suspended", done + 86400 * (10 + int(rand() * 300))
            else:
                r = rand()
                if r < 0.05:
                    status = "terminated" if r < 0.03 else "suspended"
                    change = done + 86400 * (30 + int(rand() * 300))
            order_items.append(self.product(order, item, status, change)[0])
        # The document, assembled from pieces like the products' (the attributes of TMF622 above).
        body = [
            b'{"id":"',
            oid.encode(),
            b'","@type":"ProductOrder","state":"completed","orderDate":"',
            order_iso.encode(),
            b'","completionDate":"',
            done_iso.encode(),
        ]
        if install:
            body += (b'","requestedStartDate":"', self.iso(sec + 86400).encode())
        body += (
            b'","category":"B2B"' if b2b else b'","category":"B2C"',
            _ORDER_CHANNEL_JSON[channel],
            order.party[:-8],  # relatedParty with the customer alone
            b'],"billingAccount":{"id":"',
            order.account_b[1:-1],
            b'","@referredType":"BillingAccount"},"productOrderItem":[',
            b",".join(order_items),
            b"]}",
        )
        oidb = oid.encode()
        self.rows.product_order.append(
            b"\t".join(
                (
                    oidb,
                    b"completed",
                    order.account_b[1:-1],
                    NULL_B,
                    NULL_B,
                    NULL_B,
                    b"".join(body),
                    b"1",
                    self.ts(sec),
                    self.ts(done),
                    order.scope,
                )
            )
        )
        self.rows.search_key.append(oid.replace("-", "").upper().encode() + b"\tid\t" + oidb + b"\t" + cidb + b"\t0")

    def product(
        self, order: _Order, item: _Item, status: str, change: int, root: str | None = None
    ) -> tuple[bytes, bytes]:
        """One product of ``order`` (and its bundled components): its order item (JSON) and its id."""
        offer_id, uid, chars, numbers, parts = item
        offer = _offers()[offer_id]
        order.items += 1
        item_id = str(order.items)
        children = [self.product(order, part, status, change, root or item_id) for part in parts]
        pid = self.puuid(order.done)
        pidb = pid.encode()
        if offer.tasks:
            self.work_orders(order, offer, item_id, root or item_id, chars, pid)
        # The document, assembled from pieces (JSONB does not keep the order of attributes).
        body = [offer.head, b',"id":"', pidb, b'","status":"', status.encode(), order.dates]
        end = NULL_B
        if status == "terminated":
            body += (b',"terminationDate":"', self.iso(change).encode(), b'"')
            end = self.ts(change)
        body += (chars, order.party, uid.encode(), order.tail, item_id.encode(), _ITEM_END)
        if children:
            body.append(b',"productRelationship":[')
            body.append(
                b",".join(
                    [
                        b'{"relationshipType":"bundled","product":{"id":"%s",%s}}' % (c, _PRODUCT_REF)
                        for _, c in children
                    ]
                )
            )
            body.append(b"]")
        body.append(b"}")
        start = self.ts(order.done)
        self.rows.product.append(
            b"\t".join(
                (
                    pidb,
                    offer.name_b,
                    status.encode(),
                    offer.id_b + order.account_b + uid.encode(),
                    start,
                    end,
                    start,
                    b"".join(body),
                    b"1",
                    start,
                    self.ts(change),
                    order.scope,
                )
            )
        )
        if numbers:
            tail = b"\tphone\t" + pidb + b"\t" + order.cidb + b"\t0"
            self.rows.search_key.extend([key + tail for number in numbers for key in _number_keys(number)])
        entry = [b'{"id":"', item_id.encode(), offer.item, pidb, b'","@referredType":"Product"}']
        if children:
            entry += (b',"productOrderItem":[', b",".join([child for child, _ in children]), b"]")
        entry.append(b"}")
        return b"".join(entry), pidb

    def work_orders(self, order: _Order, offer: _Offer, item_id: str, root_id: str, chars: bytes, pid: str) -> None:
        """The work orders fulfilment made for one new product of ``order`` (``telcrm.ordering.
        fulfilment.start``), all completed: one after the other between the order's capture and its
        completion, the last one ending it. Their ids and resources come from the product's id, so
        the products' and orders' random stream is the same with or without them."""
        payload = {
            "orderId": order.id,
            "orderItemId": item_id,
            "domain": offer.domain.decode(),
            "action": "add",
            "customerId": order.cid,
            "productOffering": offer.ref,
            "characteristics": {c["name"]: c["value"] for c in orjson.loads(chars[len(_CHARS_HEAD) :])}
            if chars
            else {},
        }
        head = b"\t".join((order.idb, item_id.encode(), root_id.encode(), offer.domain)) + b"\t"
        seed = int(pid[-12:], 16) * 0x9E3779B97F4A7C15
        placed, span, count = order.placed, order.done - order.placed, len(offer.tasks)
        for seq, task in enumerate(offer.tasks):
            due = placed + span * seq // count
            sent, finished = due + 1 + seed % 5, placed + span * (seq + 1) // count
            payload["task"] = task.decode()
            self.rows.work_order.append(
                b"\t".join(
                    (
                        _uuid(due * 1000 + seq, (seed + seq) & _BITS74).encode(),
                        head + task,
                        b"add",
                        str(seq).encode(),
                        b"completed\t1\t1",
                        self.ts(due),
                        self.ts(sent),
                        self.ts(finished),
                        NULL_B,
                        _json(payload),
                        _json(_resource(task, seed + seq)),
                        self.ts(placed),
                        self.ts(finished),
                    )
                )
            )

    # ----- customers ------------------------------------------------------------------------
    def block(self, first: int, count: int, first_account: int) -> None:
        job = self.job
        rand = self.rnd.random
        ws, we = ((d - EPOCH).days for d in WINDOW)
        scale = (we - ws) / job.count
        next_account = first_account
        for i, category in enumerate(_categories(job.seed, first, count)):
            number = first + i
            # Customers join in number order over the window, in opening hours.
            day = ws + int((number - job.start + rand()) * scale)
            sec = day * 86400 - TZ + 8 * 3600 + int(rand() * 13 * 3600)
            aid = ""
            if ACCOUNTS_OF[category]:
                aid = account_number(next_account)
                next_account += 1
            cid = customer_number(number)
            if category == GROUP:
                self.group(cid, number, sec, aid)
            elif category == DEALER:
                self.dealer_customer(cid, number, sec, aid)
            else:
                self.individual(cid, number, sec, aid, category)
            self.rows.customers += 1

    def _manager(self) -> Ref:
        return self.pick(self.job.staff.managers)  # type: ignore[no-any-return]

    def _dealer(self, city: int) -> Ref:
        staff = self.job.staff
        local = staff.dealers_by_city.get(CITIES[city][1])
        if local and self.rnd.random() < 0.85:
            return self.pick(local)  # type: ignore[no-any-return]
        return self.pick(staff.dealers)  # type: ignore[no-any-return]

    def individual(self, cid: str, number: int, sec: int, aid: str, category: int) -> None:
        rand = self.rnd.random
        prospect = category == PROSPECT
        party_sec = sec - 60 - int(rand() * 600)
        person = self.person(
            number * 32,
            party_sec,
            real_name=not prospect,
            address=0.3 if prospect else 1.0,
            landline=0.05 if prospect else 0.25,
        )
        vip = "none"
        if not prospect and rand() < 0.05:
            r = rand()
            vip = "silver" if r < 0.5 else "gold" if r < 0.8 else "platinum" if r < 0.95 else "diamond"
        staff = self.job.staff
        manager = self._manager() if vip != "none" and staff.managers else None
        dealer = self._dealer(person.city) if staff.dealers and rand() < 0.15 else None
        if dealer is not None:
            channel = "dealer"
        elif manager is not None and rand() < 0.5:
            channel = "accountManager"
        else:
            r = rand()
            if prospect:
                channel = "webHall" if r < 0.5 else "callCenter" if r < 0.8 else "hall"
            else:
                channel = "hall" if r < 0.55 else "webHall" if r < 0.85 else "callCenter"
        status, reason = ("prospect", None) if prospect else ("active", None)
        if not prospect and rand() < 0.01:
            status, reason = "suspended", "欠费停机 unpaid bills"
        cidb = cid.encode()
        manager_b = manager[2] if manager else NULL_B
        dealer_b = dealer[2] if dealer else NULL_B
        self.party_row(person, party_sec, cidb, dealer_b, manager_b)
        accounts = [] if prospect else [(aid, f"{person.name} 个人账户")]
        self.customer_row(
            cid,
            sec,
            person,
            category="employee" if category == EMPLOYEE else "individual",
            status=status,
            vip=vip,
            channel=channel,
            manager=manager,
            dealer=dealer,
            accounts=accounts,
            reason=reason,
        )
        if prospect:
            return
        r = rand()
        if category == EMPLOYEE:
            self.role_row(sec + 5, "employee", person, cidb, dealer_b, manager_b)
            account_type, credit = "postpaid", 1000
        elif vip != "none":
            account_type, credit = "postpaid", _VIP_CREDIT[vip]
        elif r < 0.45:
            account_type, credit = "postpaid", self.pick((100, 200, 200, 300, 500))
        elif r < 0.9:
            account_type, credit = "prepaid", 0
        else:
            account_type, credit = "hybrid", 100
        self.account_row(
            aid,
            sec + 30,
            kind="BillingAccount",
            name=accounts[0][1],
            account_type=account_type,
            owner=(cid, person.name, "Customer"),
            owner_role="owner",
            customer=cidb,
            dealer=dealer_b,
            manager=manager_b,
            credit=credit,
            email=person.email,
        )
        user_status = "suspended" if reason else "active"
        uid = self.user_row(sec + 90, person, aid, (cid, person.name, cidb), dealer_b, manager_b, user_status)
        self.sell(
            (cid, cidb, dealer_b, manager_b),
            aid,
            sec + 120,
            self.household(person, uid),
            b2b=False,
            channel=_ORDER_CHANNEL[channel],
            suspended=bool(reason),
        )

    def group(self, cid: str, number: int, sec: int, aid: str) -> None:
        rand = self.rnd.random
        city = self.t.cities[self.rnd.getrandbits(12)]
        name, prefix = self.org_name(city, "group")
        org_type = {"91": "company", "12": "institution", "11": "government"}[prefix]
        org = self.org(sec - 600, name, prefix, city, org_type=org_type)
        manager = self._manager() if self.job.staff.managers else None
        manager_b = manager[2] if manager else NULL_B
        r = rand()
        vip = "none" if r < 0.6 else "gold" if r < 0.85 else "platinum" if r < 0.97 else "diamond"
        cidb = cid.encode()
        self.party_row(org, sec - 600, cidb, NULL_B, manager_b)
        if prefix == "91" and rand() < 0.2:
            for _ in range(1 + int(rand() * 3)):
                other = self.t.cities[self.rnd.getrandbits(12)]
                short = CITIES[other][1].removesuffix("市")
                branch = self.org(sec - 300, f"{name}{short}分公司", "91", other, parent=org)
                self.party_row(branch, sec - 300, cidb, NULL_B, manager_b, parent=org.id)
        account_name = f"{name} 集团统付账户"
        self.customer_row(
            cid,
            sec,
            org,
            category="group",
            status="active",
            vip=vip,
            channel="accountManager",
            manager=manager,
            dealer=None,
            accounts=[(aid, account_name)],
        )
        self.account_row(
            aid,
            sec + 30,
            kind="BillingAccount",
            name=account_name,
            account_type="groupPaid",
            owner=(cid, name, "Customer"),
            owner_role="owner",
            customer=cidb,
            dealer=NULL_B,
            manager=manager_b,
            credit=(5 + int(rand() ** 2 * 200)) * 1000,
        )
        members = 5 + int(rand() ** 2 * 26)  # 5 to 30, most groups small
        lines: list[_Item] = []
        for j in range(members):
            at = sec + 120 + j * 60
            member = self.person(number * 32 + 1 + j, at, landline=0.0, email=0.2, address=0.3, other_names=False)
            self.party_row(member, at, cidb, NULL_B, manager_b)
            uid = self.user_row(at + 10, member, aid, (cid, name, cidb), NULL_B, manager_b)
            r = self.prnd.random()
            lines.append(self.mobile_plan(uid, member.mobile, "99" if r < 0.6 else "199" if r < 0.85 else "59"))
        # The leased line is the group's; its first member is the contact who uses it.
        leased: _Item = ("po-leased-line-100m", lines[0][1], _LEASED, (), [])
        self.sell(
            (cid, cidb, NULL_B, manager_b),
            aid,
            sec + 120 + members * 60 + 60,
            [leased, *lines],
            b2b=True,
            channel="hall",
        )

    def dealer_customer(self, cid: str, number: int, sec: int, aid: str) -> None:
        """A dealer (代理商) that is itself a customer: a small shop, or a person trading alone."""
        rand = self.rnd.random
        cidb = cid.encode()
        owner = self.person(number * 32, sec - 300, landline=0.5, email=0.4)
        party = owner
        self.party_row(owner, sec - 300, cidb, NULL_B, NULL_B)
        if rand() < 0.7:
            name, prefix = self.org_name(owner.city, "shop")
            party = self.org(sec - 200, name, prefix, owner.city, org_type="individualBusiness")
            self.party_row(party, sec - 200, cidb, NULL_B, NULL_B)
        account_name = f"{party.name} 账户"
        self.customer_row(
            cid,
            sec,
            party,
            category="dealer",
            status="active",
            vip="none",
            channel="hall",
            manager=None,
            dealer=None,
            accounts=[(aid, account_name)],
        )
        self.account_row(
            aid,
            sec + 30,
            kind="BillingAccount",
            name=account_name,
            account_type="postpaid",
            owner=(cid, party.name, "Customer"),
            owner_role="owner",
            customer=cidb,
            dealer=NULL_B,
            manager=NULL_B,
            credit=1000,
            email=owner.email,
        )
        uid = self.user_row(sec + 90, owner, aid, (cid, party.name, cidb), NULL_B, NULL_B)
        items = [self.mobile_plan(uid, owner.mobile)]
        prand = self.prnd.random
        if owner.landline and prand() < 0.5:
            land = owner.landline
            items.append(("po-local-line", uid, _chars(("serviceNumber", land), ("lineType", "business")), (land,), []))
        if prand() < 0.4:
            items.append(self.broadband(uid, "100m" if prand() < 0.5 else "300m"))
        self.sell((cid, cidb, NULL_B, NULL_B), aid, sec + 120, items, b2b=party is not owner, channel="hall")

    # ----- the operator's own people and partners ------------------------------------------
    def staff(self, first_number: int, first_account: int, operators: int) -> tuple[_Staff, int, int]:
        """Account managers, dealers with settlement accounts, and interconnect partners.

        Returns the staff and how many customer and account numbers were used.
        """
        sec = (WINDOW[0] - EPOCH).days * 86400 - TZ - 400 * 86400
        managers: list[Ref] = []
        for k in range(N_MANAGERS):
            at = sec + k * 3600
            p = self.person(4_000_000_000 + k, at, landline=0.0, email=0.0, other_names=False)
            p.body["contactMedium"].append(
                {"mediumType": "email", "characteristic": {"emailAddress": f"am{k + 1:03d}@staff.example.com"}}
            )
            self.party_row(p, at, NULL_B, NULL_B, NULL_B)
            self.role_row(at + 60, "accountManager", p, NULL_B, NULL_B, NULL_B)
            managers.append(p.ref)
        dealers: list[Ref] = []
        by_city: dict[str, list[Ref]] = {}
        accounts = 0
        for k in range(N_DEALERS):
            at = sec + 200 * 86400 + k * 3600
            city = self.t.cities[self.rnd.getrandbits(12)]
            name, prefix = self.org_name(city, "dealer")
            org = self.org(at, name, prefix, city)
            self.party_row(org, at, NULL_B, NULL_B, NULL_B)
            aid = account_number(first_account + accounts)
            accounts += 1
            own = org.id.encode()
            self.account_row(
                aid,
                at + 120,
                kind="SettlementAccount",
                name=f"{name} 佣金结算账户",
                account_type="commission",
                owner=(org.id, name, "Organization"),
                owner_role="dealer",
                customer=NULL_B,
                dealer=own,  # as if the dealer had opened it: it sees its own commission account
                manager=NULL_B,
                billing=False,
            )
            self.role_row(at + 60, "dealer", org, NULL_B, own, NULL_B, [(aid, f"{name} 佣金结算账户")])
            dealers.append(org.ref)
            by_city.setdefault(CITIES[city][1], []).append(org.ref)
        numbers = 0
        orgs: list[_Party] = []
        owners: list[tuple[bytes, bytes] | None] = []  # (customer id, manager id) of each operator
        for k, (name, parent) in enumerate(OPERATORS):
            at = sec + 300 * 86400 + k * 3600
            city = 4 if parent is not None else 0  # 广州 for the provincial companies, else 北京
            parent_org = orgs[parent] if parent is not None else None
            org = self.org(at, name, "91", city, parent=parent_org)
            orgs.append(org)
            manager = managers[k % len(managers)]
            if parent is None and numbers < operators:
                cid = customer_number(first_number + numbers)
                cidb = cid.encode()
                numbers += 1
                owners.append((cidb, manager[2]))
                self.party_row(org, at, cidb, NULL_B, manager[2])
                aid = account_number(first_account + accounts)
                accounts += 1
                account_name = f"{name} 网间结算账户"
                self.customer_row(
                    cid,
                    at + 60,
                    org,
                    category="operator",
                    status="active",
                    vip="none",
                    channel="accountManager",
                    manager=manager,
                    dealer=None,
                    accounts=[(aid, account_name)],
                )
                self.account_row(
                    aid,
                    at + 120,
                    kind="SettlementAccount",
                    name=account_name,
                    account_type="interconnect",
                    owner=(cid, name, "Customer"),
                    owner_role="owner",
                    customer=cidb,
                    dealer=NULL_B,
                    manager=manager[2],
                    billing=False,
                )
                self.role_row(at + 90, "interconnectPartner", org, cidb, NULL_B, manager[2], [(aid, account_name)])
            else:
                owner = owners[parent] if parent is not None else None
                self.party_row(
                    org,
                    at,
                    owner[0] if owner else NULL_B,
                    NULL_B,
                    owner[1] if owner else NULL_B,
                    parent=parent_org.id if parent_org else None,
                )
                owners.append(None)
        return _Staff(managers, dealers, by_city), numbers, accounts


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------

COPY_SQL = {t: bulk.COPY_SQL[t] for t in TABLES}


# Statistics for the planner, of whole tables. An ANALYZE of some columns (the documents were left
# out, to save time) leaves the table's count of rows changed since its last analysis as it was:
# PostgreSQL resets it only for a whole table. Autovacuum then analysed every freshly loaded table
# again within the first minutes the system served, and the orders bench saw those seven ANALYZEs
# 20-50 s into its load in every run (ADR 10, thirteenth session). The documents add ~0.1 s a table.
ANALYZED = (*TABLES, "number_pool")
ANALYZE_SQL = "ANALYZE " + ", ".join(ANALYZED)
# After a bulk load each table is also vacuumed: COPY leaves every row without its hint bits and
# every page out of the visibility map, so otherwise the first readers of each page (and, with data
# checksums, the WAL: one full-page image per page) and then autovacuum's first passes over
# gigabytes of fresh tables pay for it while the system serves (ADR 10, fifth session).
VACUUM_TABLE = {t: f"VACUUM (ANALYZE) {t}" for t in TABLES}
# Index builds, longest first (the search key primary key is the long pole of a bulk load).
BUILD_ORDER = (
    "search_key",
    "party",
    "product",
    "customer_user",
    "customer",
    "product_order",
    "work_order",
    "account",
    "party_role",
)


_dsn = bulk.plain_url


def _prepare_session(conn: psycopg.Connection[Any]) -> bool:
    """Session settings for loading; True when foreign-key triggers are off."""
    conn.execute("SET synchronous_commit = off")
    try:
        with conn.transaction():
            conn.execute("SET session_replication_role = replica")
        return True
    except psycopg.Error:
        return False


def _copy(conn: psycopg.Connection[Any], chunk: dict[str, bytes]) -> None:
    with conn.cursor() as cur:
        for table in TABLES:
            data = chunk.get(table)
            if data:
                with cur.copy(COPY_SQL[table]) as copy:
                    copy.write(data)


def is_empty(url: str) -> bool:
    """True when the database has no customers yet."""
    with psycopg.connect(_dsn(url)) as conn:
        row = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM customer)").fetchone()
    return bool(row and row[0])


def _flush_statistics(conn: psycopg.Connection[Any]) -> None:
    """Hand the session's counts of rows written to the server's statistics now, not when it ends
    (PostgreSQL 15 and later): the whole-table ANALYZE after the load must come after them, or the
    server counts those rows as changed since and autovacuum analyses the table again."""
    if conn.info.server_version >= 150000:
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.commit()  # the flush happens as the session goes idle, before COMMIT is answered


def _run_blocks(
    dsn: str, job: _Job, blocks: Sequence[int], report: Callable[[int], None]
) -> tuple[dict[str, int], str]:
    """Generate ``blocks`` of ``job`` and COPY them: a thread writes while the next chunk is made.

    Returns the rows written per table and the resident ID numbers given out (``_Rows.ids``).
    """
    chunks: queue.Queue[tuple[int, dict[str, bytes]] | None] = queue.Queue(maxsize=2)
    failure: list[BaseException] = []
    totals = dict.fromkeys(TABLES, 0)
    ids: list[str] = []

    def writer() -> None:
        try:
            with psycopg.connect(dsn) as conn:
                _prepare_session(conn)
                while (item := chunks.get()) is not None:
                    _copy(conn, item[1])
                    report(item[0])
                conn.commit()
                _flush_statistics(conn)
        except BaseException as exc:
            failure.append(exc)
            while chunks.get() is not None:  # let the producer finish
                pass

    thread = threading.Thread(target=writer, name="telcrm-demo-copy", daemon=True)
    thread.start()
    rows = _Rows()
    try:
        for b in blocks:
            first, count, first_account = job.blocks[b]
            gen = _Gen(
                job, Random(f"telcrm-demo/{job.seed}/{first}"), rows, Random(f"telcrm-demo/{job.seed}/{first}/product")
            )
            gen.block(first, count, first_account)
            if rows.customers >= FLUSH_CUSTOMERS or b == blocks[-1]:
                for table, n in rows.counts().items():
                    totals[table] += n
                chunks.put((rows.customers, rows.joined()))
                ids.append("".join(rows.ids))
                rows = _Rows()
                if failure:
                    break
    finally:
        chunks.put(None)
        thread.join()
    if failure:
        raise failure[0]
    return totals, "".join(ids)


def _worker_main(dsn: str, job: _Job, blocks: Sequence[int], done: Any, slot: int, results: Any) -> None:
    import gc

    gc.disable()  # nothing generated here forms cycles; the process ends with the load

    def report(n: int) -> None:
        done[slot] += n

    results.put((slot, _run_blocks(dsn, job, blocks, report)))


ID_RECORD = 18 + 36  # resident ID number + party id


def _unique_ids(records: str) -> list[tuple[str, str, str]]:
    """``(party id, number, new number)`` for every party whose resident ID number another has too.

    Numbers are drawn at random, so among a million people a few hundred share one (same
    birthplace, birthday and sequence number). The party with the smallest id keeps it; the others
    get the next free sequence number of the same parity (gender). Independent of how the blocks
    were spread over workers.
    """
    heads = [records[i : i + 17] for i in range(0, len(records), ID_RECORD)]
    counts = Counter(heads)
    used = set(counts)
    shared = sorted(
        (records[i : i + 18], records[i + 18 : i + ID_RECORD])
        for i, head in zip(range(0, len(records), ID_RECORD), heads, strict=True)
        if counts[head] > 1
    )
    fixes = []
    keeper = ""
    for number, party_id in shared:
        if number != keeper:
            keeper = number
            continue
        start, seq = number[:14], int(number[14:17])
        for step in range(2, 1000, 2):
            head = f"{start}{(seq + step) % 1000:03d}"
            if head not in used:
                break
        used.add(head)
        fixes.append((party_id, number, head + id_check_char(head)))
    return fixes


def _apply_id_fixes(dsn: str, fixes: list[tuple[str, str, str]]) -> None:
    """Give parties their new resident ID numbers, in the document and in the search keys."""
    if not fixes:
        return
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "UPDATE party SET body = jsonb_set(body, '{individualIdentification,0,identificationId}',"
            " to_jsonb(%s::text)) WHERE id = %s AND body->'individualIdentification'->0->>'identificationId' = %s",
            [(new, party_id, old) for party_id, old, new in fixes],
        )
        cur.executemany(
            "UPDATE search_key SET key = %s WHERE ref_id = %s AND kind = 'id' AND key = %s",
            [(new, party_id, old) for party_id, old, new in fixes],
        )


@dataclass
class _State:
    customers: int
    next_customer: int
    next_account: int
    managers: list[Ref]
    dealers: list[Ref]
    dealers_by_city: dict[str, list[Ref]]
    refs: dict[str, str]


def _read_state(conn: psycopg.Connection[Any]) -> _State:
    def next_number(table: str, prefix: str, seq: str) -> int:
        row = conn.execute(
            f"SELECT max(substr(id, 2)::bigint) FROM {table} WHERE id ~ '^{prefix}[0-9]{{10}}$'"
        ).fetchone()
        used = int(row[0]) if row and row[0] is not None else 0
        seq_row = conn.execute(f"SELECT last_value, is_called FROM {seq}").fetchone()
        if seq_row:
            used = max(used, int(seq_row[0]) if seq_row[1] else int(seq_row[0]) - 1)
        return used + 1

    count_row = conn.execute("SELECT count(*) FROM customer").fetchone()
    managers = [
        (r[0], r[1], r[0].encode())
        for r in conn.execute(
            "SELECT p.id, p.name FROM party_role r JOIN party p ON p.id = r.party_id"
            " WHERE r.role_kind = 'accountManager' AND p.kind = 'Individual' ORDER BY p.id"
        ).fetchall()
    ]
    dealers: list[Ref] = []
    by_city: dict[str, list[Ref]] = {}
    for pid, name, body in conn.execute(
        "SELECT p.id, p.name, p.body FROM party_role r JOIN party p ON p.id = r.party_id"
        " WHERE r.role_kind = 'dealer' AND p.kind = 'Organization' ORDER BY p.id"
    ).fetchall():
        dealers.append((pid, name, pid.encode()))
        for medium in body.get("contactMedium") or []:
            city = (medium.get("characteristic") or {}).get("city")
            if medium.get("mediumType") == "postalAddress" and city:
                by_city.setdefault(city, []).append((pid, name, pid.encode()))
    refs = {r[0]: r[1] for r in conn.execute("SELECT id, name FROM reference_item").fetchall()}
    return _State(
        customers=int(count_row[0]) if count_row else 0,
        next_customer=next_number("customer", "C", "customer_number_seq"),
        next_account=next_number("account", "A", "account_number_seq"),
        managers=managers,
        dealers=dealers,
        dealers_by_city=by_city,
        refs=refs,
    )


@dataclass
class _Index:
    table: str
    name: str
    drop: str
    create: list[str]  # run in order on one connection


def _secondary_indexes(conn: psycopg.Connection[Any]) -> list[_Index]:
    """The indexes a bulk load drops and builds afterwards: all but the primary keys others refer to."""
    rows = conn.execute(
        """
        SELECT t.relname, i.relname, pg_get_indexdef(i.oid), c.conname, c.contype,
               EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.confrelid = t.oid)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.conrelid = t.oid
        WHERE t.relnamespace = current_schema()::regnamespace AND t.relname = ANY(%s)
        ORDER BY array_position(%s, t.relname::text), c.contype NULLS LAST, i.relname
        """,
        (list(TABLES), list(BUILD_ORDER)),
    ).fetchall()
    out = []
    for table, index, indexdef, conname, contype, referenced in rows:
        if conname is None:
            out.append(_Index(table, index, f'DROP INDEX "{index}"', [indexdef]))
        elif contype == "p" and not referenced:
            # No foreign key refers to it (search keys, products, orders), so it is built in one
            # sort like the others: as a unique index first (which, unlike ADD PRIMARY KEY, can be
            # built while other indexes of the table are), then attached as the primary key.
            out.append(
                _Index(
                    table,
                    conname,
                    f'ALTER TABLE "{table}" DROP CONSTRAINT "{conname}"',
                    [indexdef, f'ALTER TABLE "{table}" ADD CONSTRAINT "{conname}" PRIMARY KEY USING INDEX "{index}"'],
                )
            )
    return out


def _rebuild(dsn: str, dropped: list[_Index], parallel: int, done: Callable[[], None]) -> None:
    """Build the dropped indexes ``parallel`` at a time (largest first), each on its own connection,
    and VACUUM and ANALYZE every table as soon as its last index is built."""
    lock = threading.Lock()
    tasks: list[tuple[str, list[str]]] = [(i.table, i.create) for i in dropped]
    left = {t: sum(1 for i in dropped if i.table == t) for t in TABLES}
    tasks += [(t, [VACUUM_TABLE[t]]) for t in TABLES if not left[t]]
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SET maintenance_work_mem = '1GB'")
                # The builds already run side by side; parallel workers would only add sorting work.
                conn.execute("SET max_parallel_maintenance_workers = 0")
                while True:
                    with lock:
                        if not tasks or errors:
                            return
                        table, statements = tasks.pop(0)
                    for statement in statements:
                        conn.execute(statement)  # type: ignore[arg-type]
                    done()
                    with lock:
                        if not statements[0].startswith("VACUUM"):
                            left[table] -= 1
                            if not left[table]:
                                tasks.insert(0, (table, [VACUUM_TABLE[table]]))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(max(1, parallel))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]


def _fillfactor(table: str) -> int | None:
    """The free space the schema leaves in ``table``'s pages for updated row versions (HOT
    updates: revisions 0015 and 0017), as a fillfactor; None for the default (100)."""
    from telcrm.models import Base

    value = (Base.metadata.tables[table].dialect_kwargs.get("postgresql_with") or {}).get("fillfactor")
    return int(value) if value is not None else None


def _autovacuum(dsn: str, enabled: bool) -> None:
    """Keep autovacuum off the tables while a bulk load and its index builds run, and fill their
    pages: the load writes history (completed orders and their work orders), which no update will
    ever need room for, so the tables that leave a share of each page free for their updates are
    loaded full (a third smaller) and given their fillfactor back for the rows written afterwards."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES:
            fill = _fillfactor(table)
            if enabled:
                conn.execute(f'ALTER TABLE "{table}" RESET (autovacuum_enabled)')  # type: ignore[arg-type]
                if fill is not None:
                    conn.execute(f'ALTER TABLE "{table}" SET (fillfactor = {fill})')  # type: ignore[arg-type]
            else:
                conn.execute(f'ALTER TABLE "{table}" SET (autovacuum_enabled = false)')  # type: ignore[arg-type]
                if fill is not None:
                    conn.execute(f'ALTER TABLE "{table}" SET (fillfactor = 100)')  # type: ignore[arg-type]


def repair(dsn: str) -> list[str]:
    """Put back what a killed bulk load may have left behind: dropped indexes, autovacuum off.

    The schema's own metadata says what must exist, so a rerun after ``kill -9`` starts from a
    whole schema. Returns the statements it ran.
    """
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import AddConstraint, CreateIndex

    from telcrm.models import Base

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    ran: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        present = {
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = ANY(%s)",
                (list(TABLES),),
            )
        }
        for name in TABLES:
            table = Base.metadata.tables[name]
            wanted = [str(AddConstraint(table.primary_key).compile(dialect=dialect))]
            wanted += [str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes]
            for statement in wanted:
                found = re.search(r"(?:ADD CONSTRAINT|INDEX) (\S+)", statement)
                if found and found.group(1).strip('"') not in present:
                    conn.execute(statement)  # type: ignore[arg-type]
                    ran.append(statement)
            options = conn.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", (name,)).fetchone()
            if options and options[0] and "autovacuum_enabled=false" in options[0]:
                statement = f'ALTER TABLE "{name}" RESET (autovacuum_enabled)'
                conn.execute(statement)  # type: ignore[arg-type]
                ran.append(statement)
            fill = _fillfactor(name)
            if fill is not None and f"fillfactor={fill}" not in ((options[0] if options else None) or []):
                statement = f'ALTER TABLE "{name}" SET (fillfactor = {fill})'
                conn.execute(statement)  # type: ignore[arg-type]
                ran.append(statement)
    return ran


def pool_numbers(customers: int) -> tuple[list[str], list[str]]:
    """The free numbers a load of ``customers`` puts in the number pool: mobile and fixed-line.

    Always the first ones of the pool's blocks, so a rerun finds them there and adds nothing, and
    a larger load adds the rest. No generated user, contact or product has one of them.
    """
    mobile = [f"{POOL_MOBILE_PREFIX}{i:08d}" for i in range(max(10_000, customers // 5))]
    areas = [c[2] for c in CITIES]
    fixed = [
        f"{areas[i % len(areas)]}{POOL_FIXED_DIGIT}{i // len(areas):07d}" for i in range(max(1_000, customers // 100))
    ]
    return mobile, fixed


def generate(url: str, *, customers: int, seed: int, console: Console, workers: int | None = None) -> None:
    """Write ``customers`` new customers (and their parties, accounts, users and search keys).

    The same seed on the same starting state gives the same rows. On a database that already
    has customers the new ones are numbered after them.
    """
    started = time.perf_counter()
    dsn = _dsn(url)
    for statement in repair(dsn):
        console.print(f"restored after an interrupted load: {statement}")
    with psycopg.connect(dsn) as conn:
        state = _read_state(conn)
    _tables()  # build the lookup tables once, before the workers fork
    _offers()

    start, next_account = state.next_customer, state.next_account
    staff_rows: _Rows | None = None
    if not state.managers or not state.dealers:
        staff_rows = _Rows()
        gen = _Gen(
            _Job(seed, start, max(customers, 1), [], _Staff([], [], {}), state.refs),
            Random(f"telcrm-demo/{seed}/staff/{start}"),
            staff_rows,
        )
        staff, used_numbers, used_accounts = gen.staff(start, next_account, min(customers, 3))
        start += used_numbers
        next_account += used_accounts
        remaining = customers - used_numbers
    else:
        staff = _Staff(state.managers, state.dealers, state.dealers_by_city)
        remaining = customers

    blocks: list[tuple[int, int, int]] = []
    account = next_account
    for first in range(start, start + remaining, BLOCK):
        count = min(BLOCK, start + remaining - first)
        blocks.append((first, count, account))
        account += sum(ACCOUNTS_OF[c] for c in _categories(seed, first, count))
    job = _Job(seed, start, max(remaining, 1), blocks, staff, state.refs)
    if workers is None:
        workers = min(2, os.cpu_count() or 1) if remaining >= PARALLEL_THRESHOLD else 1
    workers = max(1, min(workers, len(blocks)))
    bulk = state.customers == 0 and customers >= BULK_THRESHOLD
    totals = dict.fromkeys(TABLES, 0)

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        auto_refresh=False,  # no refresh thread: worker processes are forked from this one
    )
    dropped: list[_Index] = []
    index_seconds = 0.0
    with progress:
        task = progress.add_task("customers", total=customers)
        with psycopg.connect(dsn) as conn:
            if staff_rows is not None:
                _prepare_session(conn)
                _copy(conn, staff_rows.joined())
                for table, n in staff_rows.counts().items():
                    totals[table] += n
                conn.commit()
                progress.update(task, advance=customers - remaining)
                progress.refresh()
            if bulk:
                dropped = _secondary_indexes(conn)
                for index in dropped:
                    conn.execute(index.drop)  # type: ignore[arg-type]
                conn.commit()
        if bulk:
            _autovacuum(dsn, enabled=False)
        mobile, fixed = pool_numbers(customers)
        pool = add_numbers(dsn, mobile, "mobile") + add_numbers(dsn, fixed, "fixed")
        ids = ["".join(staff_rows.ids) if staff_rows else ""]
        try:
            if blocks:
                _load(dsn, job, workers, progress, task, totals, ids)
        finally:
            if bulk:
                # Also after a failure: the schema keeps its indexes whatever happened.
                building = time.perf_counter()
                index_task = progress.add_task("indexes, vacuum and statistics", total=len(dropped) + len(TABLES))
                progress.refresh()

                def built() -> None:
                    progress.update(index_task, advance=1)
                    progress.refresh()

                try:
                    _rebuild(dsn, dropped, min(2, os.cpu_count() or 1), built)
                finally:
                    _autovacuum(dsn, enabled=True)
                index_seconds = time.perf_counter() - building
        fixes = _unique_ids("".join(ids))
        _apply_id_fixes(dsn, fixes)
        with psycopg.connect(dsn, autocommit=True) as conn:
            # The API continues the numbering after the generated customers and accounts.
            if start + remaining > state.next_customer:
                conn.execute("SELECT setval('customer_number_seq', %s)", (start + remaining - 1,))
            if account > state.next_account:
                conn.execute("SELECT setval('account_number_seq', %s)", (account - 1,))
            # the bulk path analysed its tables as their indexes were built; the number pool is filled apart
            conn.execute("ANALYZE number_pool" if bulk else ANALYZE_SQL)  # type: ignore[arg-type]

    elapsed = time.perf_counter() - started
    summary = Table(
        title=f"demo data: {customers:,} customers, {totals['product']:,} products, {totals['product_order']:,}"
        f" orders, seed {seed}, {elapsed:.1f} s",
        show_edge=False,
    )
    summary.add_column("table")
    summary.add_column("rows written", justify="right")
    for name in TABLES:
        summary.add_row(name, f"{totals[name]:,}")
    summary.add_row("number_pool", f"{pool:,}")
    console.print(summary)
    if bulk:
        console.print(f"{len(dropped)} indexes dropped for the load, rebuilt and analysed in {index_seconds:.1f} s")


def _load(
    dsn: str, job: _Job, workers: int, progress: Progress, task: Any, totals: dict[str, int], ids: list[str]
) -> None:
    """Generate and COPY all blocks of ``job``, adding to ``totals`` and ``ids``."""
    indexes = list(range(len(job.blocks)))
    if workers == 1:

        def report(n: int) -> None:
            progress.update(task, advance=n)
            progress.refresh()

        counts, given = _run_blocks(dsn, job, indexes, report)
        for table, n in counts.items():
            totals[table] += n
        ids.append(given)
        return
    ctx = multiprocessing.get_context("fork")
    done = ctx.Array("q", workers, lock=False)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker_main, args=(dsn, job, indexes[w::workers], done, w, results), daemon=True)
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    base = progress.tasks[0].completed
    finished: dict[int, tuple[dict[str, int], str]] = {}
    try:
        while len(finished) < workers:
            try:
                slot, result = results.get(timeout=0.2)
                finished[slot] = result
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    raise RuntimeError("a demo data worker failed; see the error above") from None
            progress.update(task, completed=base + sum(done))
            progress.refresh()
    finally:
        for p in procs:
            if p.is_alive() and len(finished) < workers:
                p.terminate()
            p.join()
    progress.update(task, completed=base + sum(done))
    for slot in sorted(finished):
        counts, given = finished[slot]
        for table, n in counts.items():
            totals[table] += n
        ids.append(given)

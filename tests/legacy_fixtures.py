"""Small legacy extracts with known answers, for the resolution tests."""

from __future__ import annotations

import json
from pathlib import Path

MOBILE_HEADER = "客户编号,姓名,证件号码,联系电话,地址,出生日期,服务号码,状态,开通日期,更新时间"
MOBILE_ROWS = [
    "M1,张伟,110105199001011232,13800138000,北京市朝阳区建国路1号,1990-01-01,13800138000,正常,2015-03-01,2024-01-01 10:00:00",  # noqa: E501
    "M2,赵强,,13900139000,上海市浦东新区世纪大道100号,1985-13-45,13900139000,正常,2016-01-01,2024-01-01 10:00:00",
    "M3,王芳,31010119850202002X,13700137000,上海市黄浦区南京东路2号,1985-02-02,13700137000,停机,2010-05-05,2023-01-01 10:00:00",  # noqa: E501
    ",无键,,,,,,,,",
    "M1,重复,,,,,,,,",
    "M4,短行",
    "M5,李娜,,13911112222,广州市天河区体育西路5号,1992-07-07,13911112222,正常,2019-01-01,2024-02-01 10:00:00",
    "M6,李娜,,13922223333,北京市海淀区中关村大街1号,1988-03-03,13922223333,正常,2018-01-01,2024-02-01 10:00:00",
]
MOBILE_MAPPING = {
    "source": "mobile",
    "format": "csv",
    "columns": {
        "客户编号": "source_key",
        "姓名": "name",
        "证件号码": "id_number",
        "联系电话": "phone",
        "地址": "address",
        "出生日期": "birth_date",
        "服务号码": "service_number",
        "状态": "service_status",
        "开通日期": "service_start",
        "更新时间": "updated_at",
    },
    "date_format": "%Y-%m-%d",
    "datetime_format": "%Y-%m-%d %H:%M:%S",
}
BILLING_HEADER = "acct_id,cust_name,cert_no,tel,addr,svc_no,svc_type,modified"
BILLING_ROWS = [
    "B1,張偉,110105199001011232,010-65001234,北京朝阳区建国路1号,BB0001,broadband,2024-06-01",
    "B2,王芳,31010119850202002X,021-63001234,上海黄浦区南京东路2号,02163001234,fixed,2022-01-01",
    "B3,上海浦江科技有限公司,,021-50001111,上海浦东张江路1号,02150001111,fixed,2022-01-01",
]
BILLING_MAPPING = {
    "source": "billing",
    "format": "csv",
    "columns": {
        "acct_id": "source_key",
        "cust_name": "name",
        "cert_no": "id_number",
        "tel": "phone",
        "addr": "address",
        "svc_no": "service_number",
        "svc_type": "service_type",
        "modified": "updated_at",
    },
    "date_format": "%Y-%m-%d",
}


def write_sources(tmp: Path, *, billing_encoding: str = "gbk") -> dict[str, tuple[Path, Path]]:
    mobile = tmp / "mobile.csv"
    mobile.write_text("\n".join([MOBILE_HEADER, *MOBILE_ROWS]) + "\n", encoding="utf-8")
    billing = tmp / "billing.csv"
    billing.write_text("\n".join([BILLING_HEADER, *BILLING_ROWS]) + "\n", encoding=billing_encoding)
    (tmp / "mobile.json").write_text(json.dumps(MOBILE_MAPPING, ensure_ascii=False), encoding="utf-8")
    (tmp / "billing.json").write_text(json.dumps(BILLING_MAPPING, ensure_ascii=False), encoding="utf-8")
    return {"mobile": (mobile, tmp / "mobile.json"), "billing": (billing, tmp / "billing.json")}

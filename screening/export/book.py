"""Workbooks as the campaign's forms are laid out, and written so that nothing in them runs.

Every string goes in as text (xlsxwriter's ``write_string``; the workbook also has formula
and URL conversion off): a firm name such as ``=HYPERLINK(…)`` or ``@SUM(…)`` from an agency
export is shown, never evaluated. Numbers go in as numbers, dates as dates. Pages are A4
landscape with the heading rows repeated on every printed page and the page number below.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

FOOTER = "填报人（签名）：                  村书记（签名）：                  联系电话："
REMINDER = "特别提醒：全面覆盖、细致精准，谁填报谁负责，谁主管谁负责。"
A4 = 9  # xlsxwriter's paper code


def date_zh(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


class Book:
    """A workbook with the notice's layout and safe cell writing."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.wb = xlsxwriter.Workbook(
            str(path),
            {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
        )
        self.wb.set_properties({"created": dt.datetime(2021, 1, 1)})  # reproducible files
        add = self.wb.add_format
        self.title = add({"bold": True, "font_size": 16, "align": "center"})
        self.head = add(
            {"bold": True, "border": 1, "text_wrap": True, "align": "center", "valign": "vcenter"}
        )
        # the columns a team fills in: shaded, so that the sheet says what is theirs
        self.fill_head = add(
            {
                "bold": True,
                "border": 1,
                "text_wrap": True,
                "align": "center",
                "valign": "vcenter",
                "bg_color": "#FFF2CC",
            }
        )
        self.cell = add({"border": 1, "text_wrap": True, "valign": "top"})
        self.fill_cell = add(
            {"border": 1, "text_wrap": True, "valign": "top", "bg_color": "#FFFBEA"}
        )
        self.date = add({"border": 1, "valign": "top", "num_format": "yyyy-mm-dd"})
        self.plain = add({})
        self.note = add({"text_wrap": True, "valign": "top"})

    def sheet(self, name: str, title: str, unit: str, filled: dt.date, width: int) -> Worksheet:
        """A sheet with the notice's title line and 填报单位 / 填报日期 line, printed on A4
        landscape, fitted to the page width."""
        ws = self.wb.add_worksheet(name)
        ws.merge_range(0, 0, 0, width - 1, "", self.title)
        ws.write_string(0, 0, title, self.title)
        ws.write_string(1, 0, f"填报单位（盖章）：{unit}", self.plain)
        ws.write_string(1, max(width - 3, 1), f"填报日期：{date_zh(filled)}", self.plain)
        ws.set_landscape()
        ws.set_paper(A4)
        ws.fit_to_pages(1, 0)
        ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.6)
        ws.set_footer("&C第 &P 页，共 &N 页")
        return ws

    def put(self, ws: Worksheet, row: int, col: int, value: Any, fmt: Format | None = None) -> None:
        """One cell: text as text (whatever it starts with), numbers as numbers, dates as
        dates, nothing as an empty bordered cell."""
        fmt = fmt or self.cell
        if value is None or (isinstance(value, float) and math.isnan(value)):
            ws.write_blank(row, col, None, fmt)
        elif isinstance(value, bool):
            ws.write_string(row, col, "是" if value else "否", fmt)
        elif isinstance(value, int | float):
            ws.write_number(row, col, value, fmt)
        elif isinstance(value, dt.datetime | dt.date):
            ws.write_datetime(
                row,
                col,
                dt.datetime.combine(value, dt.time()) if type(value) is dt.date else value,
                self.date,
            )
        else:
            ws.write_string(row, col, str(value), fmt)

    def row(
        self,
        ws: Worksheet,
        row: int,
        values: Sequence[Any],
        fmt: Format | None = None,
        start: int = 0,
    ) -> None:
        for j, v in enumerate(values):
            self.put(ws, row, start + j, v, fmt)

    def body(self, ws: Worksheet, first: int, rows: pl.DataFrame, empty: str) -> int:
        """The form's rows from ``first`` on, or one line saying there are none (a blank form
        must say it was filled in, not look unfinished); returns the row after them."""
        for i, values in enumerate(rows.iter_rows()):
            self.row(ws, first + i, values)
        if rows.height == 0:
            ws.write_string(first, 0, empty, self.plain)
            return first + 1
        return first + rows.height

    def footer(self, ws: Worksheet, row: int, reminder: bool = True) -> None:
        ws.write_string(row, 0, FOOTER, self.plain)
        if reminder:
            ws.write_string(row + 1, 0, REMINDER, self.plain)

    def close(self) -> None:
        self.wb.close()

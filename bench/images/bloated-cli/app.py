"""Sum orders per region from a built-in CSV, print them as a rich table and a tabulate grid, and prepare (not
send) the upload of the summary."""

import csv
import io
import json

import click
import requests
from rich.console import Console
from rich.table import Table
from tabulate import tabulate
from tqdm import tqdm

ORDERS = """region,item,qty,price
north,widget,3,2.50
south,gadget,1,9.99
north,gadget,2,9.99
east,widget,7,2.50
south,widget,4,2.50
"""


@click.command()
@click.option("--region", default="all", help="a region, or all")
def main(region: str) -> None:
    totals: dict[str, float] = {}
    for row in tqdm(list(csv.DictReader(io.StringIO(ORDERS))), desc="orders", disable=None):
        if region in ("all", row["region"]):
            totals[row["region"]] = totals.get(row["region"], 0.0) + int(row["qty"]) * float(row["price"])
    table = Table(title="orders by region")
    table.add_column("region")
    table.add_column("total", justify="right")
    for name, total in sorted(totals.items()):
        table.add_row(name, f"{total:.2f}")
    Console(width=60, force_terminal=False).print(table)
    click.echo(tabulate(sorted(totals.items()), headers=["region", "total"], floatfmt=".2f", tablefmt="github"))
    body = json.dumps(totals, sort_keys=True)
    req = requests.Request("POST", "http://reports.invalid/upload", data=body,
                           headers={"Content-Type": "application/json"}).prepare()
    click.echo(f"report regions={len(totals)} total={sum(totals.values()):.2f} body={len(req.body)}")


if __name__ == "__main__":
    main()

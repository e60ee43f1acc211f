"""Thumbnail a generated image, validate its metadata with pydantic, and prepare (not send) an upload."""

import io

import requests
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field


class Thumb(BaseModel):
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    png_bytes: int


def main() -> None:
    img = Image.new("RGB", (640, 480), "white")
    ImageDraw.Draw(img).ellipse((80, 60, 560, 420), fill="navy")
    img.thumbnail((160, 160))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    thumb = Thumb(width=img.width, height=img.height, png_bytes=len(buf.getvalue()))
    req = requests.Request("POST", "http://upload.invalid/thumbs", data=buf.getvalue()).prepare()
    print(f"thumb={thumb.width}x{thumb.height} body={len(req.body)}")


if __name__ == "__main__":
    main()

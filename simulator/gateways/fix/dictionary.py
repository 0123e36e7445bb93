"""FIX 4.4 data dictionary, extended with Kraken's own tags (fix.md §3.1, §6).

Validation works like QuickFIX's DataDictionary: a tag FIX 4.4 does not
define (and Kraken does not add) is an invalid tag number (373=0); a defined
tag on a message whose layout does not carry it is "not defined for this
message type" (373=2). Layouts below are the FIX 4.4 messages this venue
accepts, with components and repeating groups flattened into one tag set;
Kraken's extensions are added only to the messages that carry them, so
5001 Leverage is fine on a NewOrderSingle and refused on a Heartbeat.
Message types the venue does not serve are checked for tag numbers only
(the application answers them with 35=j 380=3).
"""

from __future__ import annotations

from typing import Final

from simulator.gateways.fix import tags

# FIX 4.4 defines tags 1..956 (QuickFIX's FIX44.xml field list).
FIX44_MAX_TAG: Final = 956

# Kraken's fields outside FIX 4.4 (fix.md §3.1, §6): tag -> name (for reject texts).
KRAKEN_TAGS: Final[dict[int, str]] = {
    1138: "DisplayQty", 2349: "PricePrecision", 2446: "AggressorSide", 5001: "Leverage",
    5010: "QtyPrecision", 5011: "QtyMin", 5012: "QtyMax", 5013: "MinimumCost", 5022: "TickSize",
    5025: "Nonce", 5030: "ForceResetClOrdID", 5032: "AssetPairStatus", 5041: "ChecksumOrderBook",
    5051: "Rebased", 5060: "MDEntryTimestamp", 5273: "MDEntryTimeQueue", 7928: "SelfTradePreventionType",
    8674: "CancelOrdersOnDisconnect",
}

# What Kraken adds to FIX 4.4 layouts on the messages a client sends (fix.md §3.1, §6.1, §6.4, §6.7):
# Logon 109/5025/5030/5051/8674; NewOrderSingle 62 ValidUntilTime, 1138, 5001, 7928;
# OrderCancelReplaceRequest 62 and 1138; OrderStatusRequest 60 TransactTime (Kraken's example).
KRAKEN_EXTENSIONS: Final[dict[str, frozenset[int]]] = {
    "A": frozenset({109, 5025, 5030, 5051, 8674}),
    "D": frozenset({62, 1138, 5001, 7928}),
    "G": frozenset({62, 1138}),
    "H": frozenset({60}),
}


def _tags(*numbers: int) -> frozenset[int]:
    return frozenset(numbers)


# FIX 4.4 body layouts (fields of the message, its components and groups), by MsgType.
FIX44_LAYOUTS: Final[dict[str, frozenset[int]]] = {
    "0": _tags(  # HEARTBEAT
        112
    ),
    "1": _tags(  # TEST_REQUEST
        112
    ),
    "2": _tags(  # RESEND_REQUEST
        7, 16
    ),
    "3": _tags(  # REJECT
        45, 58, 354, 355, 371, 372, 373
    ),
    "4": _tags(  # SEQUENCE_RESET
        36, 123
    ),
    "5": _tags(  # LOGOUT
        58, 354, 355
    ),
    "A": _tags(  # LOGON
        95, 96, 98, 108, 141, 372, 383, 384, 385, 464, 553, 554, 789
    ),
    "D": _tags(  # NEW_ORDER_SINGLE
        1, 11, 12, 13, 15, 18, 21, 22, 23, 38, 40, 44, 48, 54, 55, 58, 59, 60, 63, 64, 65, 70, 75, 77, 78,
        79, 80, 81, 99, 100, 106, 107, 110, 111, 114, 117, 120, 121, 126, 140, 152, 167, 168, 192, 193, 200,
        202, 203, 206, 207, 210, 211, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 231, 232, 233,
        234, 235, 236, 239, 240, 241, 242, 243, 244, 245, 246, 247, 255, 256, 305, 306, 307, 308, 309, 310,
        311, 312, 313, 316, 317, 318, 336, 348, 349, 350, 351, 354, 355, 362, 363, 364, 365, 376, 377, 386,
        388, 389, 423, 427, 432, 435, 436, 447, 448, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462,
        463, 467, 468, 469, 470, 471, 472, 479, 480, 481, 494, 497, 513, 516, 523, 524, 525, 526, 528, 529,
        538, 539, 541, 542, 543, 544, 545, 581, 582, 583, 589, 590, 591, 592, 593, 594, 595, 625, 635, 640,
        660, 661, 662, 663, 667, 691, 696, 697, 698, 699, 701, 711, 736, 761, 762, 763, 775, 788, 802, 803,
        804, 805, 810, 835, 836, 837, 838, 840, 841, 842, 843, 844, 846, 847, 848, 849, 854, 864, 865, 866,
        867, 868, 873, 874, 875, 876, 877, 878, 879, 882, 883, 884, 885, 886, 887, 888, 889, 898, 913, 914,
        915, 916, 917, 918, 919, 941, 947
    ),
    "F": _tags(  # ORDER_CANCEL_REQUEST
        1, 11, 22, 37, 38, 41, 48, 54, 55, 58, 60, 65, 66, 106, 107, 152, 167, 200, 202, 206, 207, 223, 224,
        225, 226, 227, 228, 231, 239, 240, 241, 242, 243, 244, 245, 246, 247, 255, 256, 305, 306, 307, 308,
        309, 310, 311, 312, 313, 316, 317, 318, 348, 349, 350, 351, 354, 355, 362, 363, 364, 365, 376, 435,
        436, 447, 448, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 468, 469, 470, 471, 472,
        516, 523, 526, 541, 542, 543, 581, 583, 586, 592, 593, 594, 595, 660, 667, 691, 711, 762, 763, 788,
        802, 803, 810, 864, 865, 866, 867, 868, 873, 874, 875, 876, 877, 878, 879, 882, 883, 884, 885, 886,
        887, 888, 889, 898, 913, 914, 915, 916, 917, 918, 919, 941, 947
    ),
    "G": _tags(  # ORDER_CANCEL_REPLACE_REQUEST
        1, 11, 12, 13, 15, 18, 21, 22, 37, 38, 40, 41, 44, 48, 54, 55, 58, 59, 60, 63, 64, 65, 66, 70, 75,
        77, 78, 79, 80, 99, 100, 106, 107, 110, 111, 114, 120, 121, 126, 152, 167, 168, 192, 193, 200, 202,
        203, 206, 207, 210, 211, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228, 229, 231, 235, 236, 239,
        240, 241, 242, 243, 244, 245, 246, 247, 255, 256, 305, 306, 307, 308, 309, 310, 311, 312, 313, 316,
        317, 318, 336, 348, 349, 350, 351, 354, 355, 362, 363, 364, 365, 376, 377, 386, 388, 389, 423, 427,
        432, 435, 436, 447, 448, 452, 453, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 467, 468, 469,
        470, 471, 472, 479, 480, 481, 494, 497, 513, 516, 523, 524, 525, 526, 528, 529, 538, 539, 541, 542,
        543, 544, 545, 581, 582, 583, 586, 589, 590, 591, 592, 593, 594, 595, 625, 635, 640, 660, 661, 662,
        663, 667, 691, 696, 697, 698, 699, 701, 711, 736, 761, 762, 763, 775, 788, 802, 803, 804, 805, 810,
        835, 836, 837, 838, 840, 841, 842, 843, 844, 846, 847, 848, 849, 854, 864, 865, 866, 867, 868, 873,
        874, 875, 876, 877, 878, 879, 882, 883, 884, 885, 886, 887, 888, 889, 898, 913, 914, 915, 916, 917,
        918, 919, 941, 947
    ),
    "H": _tags(  # ORDER_STATUS_REQUEST
        1, 11, 22, 37, 48, 54, 55, 65, 106, 107, 167, 200, 202, 206, 207, 223, 224, 225, 226, 227, 228, 231,
        239, 240, 241, 242, 243, 244, 245, 246, 247, 255, 256, 305, 306, 307, 308, 309, 310, 311, 312, 313,
        316, 317, 318, 348, 349, 350, 351, 362, 363, 364, 365, 435, 436, 447, 448, 452, 453, 454, 455, 456,
        457, 458, 459, 460, 461, 462, 463, 470, 471, 472, 523, 526, 541, 542, 543, 583, 592, 593, 594, 595,
        660, 667, 691, 711, 762, 763, 788, 790, 802, 803, 810, 864, 865, 866, 867, 868, 873, 874, 875, 876,
        877, 878, 879, 882, 883, 884, 885, 886, 887, 888, 889, 898, 913, 914, 915, 916, 917, 918, 919, 941,
        947
    ),
    "q": _tags(  # ORDER_MASS_CANCEL_REQUEST
        11, 22, 48, 54, 55, 58, 60, 65, 106, 107, 167, 200, 202, 206, 207, 223, 224, 225, 226, 227, 228,
        231, 239, 240, 241, 242, 243, 244, 245, 246, 247, 255, 256, 305, 306, 307, 308, 309, 310, 311, 312,
        313, 316, 317, 318, 336, 348, 349, 350, 351, 354, 355, 362, 363, 364, 365, 435, 436, 454, 455, 456,
        457, 458, 459, 460, 461, 462, 463, 470, 471, 472, 526, 530, 541, 542, 543, 592, 593, 594, 595, 625,
        667, 691, 762, 763, 810, 864, 865, 866, 867, 868, 873, 874, 875, 876, 877, 878, 879, 882, 883, 884,
        885, 886, 887, 888, 889, 941, 947
    ),
    "V": _tags(  # MARKET_DATA_REQUEST
        22, 48, 55, 65, 106, 107, 146, 167, 200, 202, 206, 207, 223, 224, 225, 226, 227, 228, 231, 239, 240,
        241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 262, 263, 264,
        265, 266, 267, 269, 286, 305, 306, 307, 308, 309, 310, 311, 312, 313, 316, 317, 318, 336, 348, 349,
        350, 351, 362, 363, 364, 365, 386, 435, 436, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 470,
        471, 472, 541, 542, 543, 546, 547, 555, 556, 592, 593, 594, 595, 596, 597, 598, 599, 600, 601, 602,
        603, 604, 605, 606, 607, 608, 609, 610, 611, 612, 613, 614, 615, 616, 617, 618, 619, 620, 621, 622,
        623, 624, 625, 667, 691, 711, 739, 740, 762, 763, 764, 810, 812, 815, 864, 865, 866, 867, 868, 873,
        874, 875, 876, 877, 878, 879, 882, 883, 884, 885, 886, 887, 888, 889, 941, 942, 947, 955, 956
    ),
    "x": _tags(  # SECURITY_LIST_REQUEST
        15, 22, 48, 55, 58, 65, 106, 107, 167, 200, 202, 206, 207, 223, 224, 225, 226, 227, 228, 231, 239,
        240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255, 256, 257, 263, 305,
        306, 307, 308, 309, 310, 311, 312, 313, 316, 317, 318, 320, 336, 348, 349, 350, 351, 354, 355, 362,
        363, 364, 365, 435, 436, 454, 455, 456, 457, 458, 459, 460, 461, 462, 463, 470, 471, 472, 541, 542,
        543, 555, 556, 559, 592, 593, 594, 595, 596, 597, 598, 599, 600, 601, 602, 603, 604, 605, 606, 607,
        608, 609, 610, 611, 612, 613, 614, 615, 616, 617, 618, 619, 620, 621, 622, 623, 624, 625, 667, 668,
        691, 711, 739, 740, 762, 763, 764, 788, 810, 864, 865, 866, 867, 868, 869, 870, 871, 872, 873, 874,
        875, 876, 877, 878, 879, 882, 883, 884, 885, 886, 887, 888, 889, 898, 913, 914, 915, 916, 917, 918,
        919, 941, 942, 947, 955, 956
    ),
    "g": _tags(  # TRADING_SESSION_STATUS_REQUEST
        263, 335, 336, 338, 339, 625
    ),
}


def _extended() -> dict[str, frozenset[int]]:
    return {mt: body | KRAKEN_EXTENSIONS.get(mt, frozenset()) for mt, body in FIX44_LAYOUTS.items()}


LAYOUTS: Final[dict[str, frozenset[int]]] = _extended()
_ENVELOPE: Final = tags.HEADER_TAGS | tags.TRAILER_TAGS


def is_defined(tag: int) -> bool:
    """A FIX 4.4 field or one of Kraken's own."""
    return 1 <= tag <= FIX44_MAX_TAG or tag in KRAKEN_TAGS


# Per message type with a layout: every tag it may carry (defined, envelope included), so a
# message is checked with one set operation; `check_dictionary` looks for the culprit only then.
_ALLOWED: Final[dict[str, frozenset[int]]] = {
    mt: frozenset(t for t in layout | _ENVELOPE if is_defined(t)) for mt, layout in LAYOUTS.items()
}


def allowed_tags(msg_type: str) -> frozenset[int] | None:
    """The tags `msg_type` may carry, or None when it has no layout here."""
    return _ALLOWED.get(msg_type)


def defined_for(msg_type: str, tag: int) -> bool:
    """Whether `tag` may appear on `msg_type` (header/trailer tags on every message);
    True for message types without a layout here (only tag numbers are checked)."""
    if tag in _ENVELOPE:
        return True
    layout = LAYOUTS.get(msg_type)
    return layout is None or tag in layout

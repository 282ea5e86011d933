"""The built-in environments and games, one package each.

``BUILTIN_ENVS`` maps each name to the ``"module:Class"`` that defines it; the registry imports a
package only when its environment is first asked for. A new built-in is one line here.
"""

BUILTIN_ENVS: dict[str, str] = {
    "auction": "palaestra.envs.auction.env:AuctionEnv",
    "bargain-bargaining": "palaestra.envs.bargain.bargaining:BargainingGame",
    "bargain-negotiation": "palaestra.envs.bargain.negotiation:NegotiationGame",
    "bargain-persuasion": "palaestra.envs.bargain.persuasion:PersuasionGame",
    "code": "palaestra.envs.code.env:CodeEnv",
    "crafting": "palaestra.envs.crafting.env:CraftingEnv",
    "crm": "palaestra.envs.crm.env:CrmEnv",
    "crm-attack": "palaestra.envs.crm.attack:CrmAttackEnv",
    "deduction": "palaestra.envs.deduction.env:DeductionEnv",
    "guess": "palaestra.envs.guess.env:GuessEnv",
    "household": "palaestra.envs.household.env:HouseholdEnv",
    "household-attack": "palaestra.envs.household.attack:HouseholdAttackEnv",
    "matrix-airport": "palaestra.envs.matrix.airport:AirportGame",
    "matrix-donor": "palaestra.envs.matrix.donor:DonorGame",
    "matrix-pd": "palaestra.envs.matrix.pd:PrisonersDilemma",
    "matrix-public-goods": "palaestra.envs.matrix.public_goods:PublicGoods",
    "maze": "palaestra.envs.maze.env:MazeEnv",
    "planning": "palaestra.envs.planning.env:PlanningEnv",
    "planning-llmp": "palaestra.envs.planning.llmp:PlanningLLMPEnv",
    "shop": "palaestra.envs.shop.env:ShopEnv",
    "shop-attack": "palaestra.envs.shop.attack:ShopAttackEnv",
    "tools": "palaestra.envs.tools.env:ToolsEnv",
    "tools-attack": "palaestra.envs.tools.attack:ToolsAttackEnv",
    "tools-poison": "palaestra.envs.tools.attack:ToolsPoisonEnv",
    "tools-mempoison": "palaestra.envs.tools.attack:ToolsMemoryPoisonEnv",
    "travel": "palaestra.envs.travel.env:TravelEnv",
    "undercover": "palaestra.envs.undercover.env:UndercoverEnv",
    "undercover-chameleon": "palaestra.envs.undercover.env:ChameleonEnv",
    "werewolf": "palaestra.envs.werewolf.env:WerewolfEnv",
    "wordle": "palaestra.envs.wordle.env:WordleEnv",
}
